package main

// Lesson 13 (class imbalance and dynamic sampling) registers its experiments "imbalance"
// (long-tailed MNIST) and "imbalance-phantoms" for `gostudy ablate` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/imbalance"
