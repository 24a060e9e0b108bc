package main

// Lesson 14 (experiment hygiene) registers its experiment "hygiene" for `gostudy ablate` and
// `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/hygiene"
