package main

// Lesson 4 (window attention): registers the "windowattention" experiment for
// `gostudy ablate` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/windowattention"
