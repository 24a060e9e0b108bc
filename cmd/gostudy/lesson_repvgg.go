package main

// Lesson 9's experiment ("repvgg": RepVGG vs the plain net vs a ResNet of equal depth, on MNIST
// or the phantoms' classes) for `gostudy ablate repvgg` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/repvgg"
