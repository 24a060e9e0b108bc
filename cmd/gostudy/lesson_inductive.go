package main

// Lesson 12 (inductive bias and data hunger) registers its experiment "inductive" for
// `gostudy ablate` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/inductive"
