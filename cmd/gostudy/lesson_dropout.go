package main

// Lesson 1 (dropout scaling) registers its experiment "dropout" for `gostudy ablate` and
// `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/dropout"
