package main

// Lesson 11's experiment ("ensembles": ResNet, no shortcuts, pre-activation and DenseNet on
// MNIST) for `gostudy ablate ensembles` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/ensembles"
