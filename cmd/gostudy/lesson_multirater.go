package main

// Lesson 7's experiment ("multirater": a learned latent per rater, on ultrasound phantoms) for `gostudy ablate multirater` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/multirater"
