package main

// Lesson 2 (patch embedding) registers its "patchembed" experiment for `gostudy ablate` and
// `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/patchembed"
