package main

// Lesson 6's experiment ("ggnet": GG-Net's guidance and boundary modules on ultrasound phantoms) for `gostudy ablate ggnet` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/ggnet"
