package main

// Lesson 5's experiment ("unet": U-Net on speckled ultrasound phantoms, or a BUSI folder) for
// `gostudy ablate unet` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/unet"
