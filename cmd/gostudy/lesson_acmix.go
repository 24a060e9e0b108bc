package main

// Lesson 8's experiment ("acmix": ResNet bottleneck vs ResNet-ACmix vs one ACmix path, on MNIST)
// for `gostudy ablate acmix` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/acmix"
