package main

// Lesson 3's experiment ("bottleneck": basic / bottleneck / ResNeXt / ConvNeXt on MNIST) for
// `gostudy ablate bottleneck` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/bottleneck"
