package main

// Lesson 10's experiment ("metaformer": the PoolFormer skeleton with five token mixers and MLP
// ratios) for `gostudy ablate metaformer` and `gostudy export`.
import _ "github.com/gostudy/gostudy/lessons/metaformer"
