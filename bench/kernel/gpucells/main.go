// Command gpucells measures the kernel's cell latency on a GPU backend, for a GPU machine
// that has no Go toolchain to compile cells with.
//
// It works in two steps:
//
//	gpucells record -repo . -out DIR   # here: compile and run the cells through the kernel's
//	                                   # engine, keep each compiled cell and the runner binary
//	gpucells replay -dir DIR           # on the GPU box: run the kept cells, in order, in a
//	                                   # fresh runner, timing each from "run" to "done"
//
// A cell's latency in a notebook is its compilation (here: go list, type-check, plugin
// build; it does not depend on the backend) plus its run in the live runner (there). The
// cells are a GoMLX session: the first opens the backend, the second builds a graph and runs
// it (XLA compiles it for the device), and the edited cells after it only run the graph
// again, which the runner still holds compiled. replay prints one JSON line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gostudy/gostudy/kernel"
	"github.com/gostudy/gostudy/kernel/kerneltest"
	"github.com/gostudy/gostudy/pkg/display"
)

// cells is the session that is recorded. Cells 3 and later are the same edited cell: each is
// a new plugin (the kernel compiles every edit), running the graph cell 2 compiled.
func cells(edits int) []string {
	c := []string{
		`b := backend.MustDefault()
fmt.Println(backend.Active())`,
		`// Four 1024² matrix products on data made on the device.
step := graph.MustNewExec(b, func(k *graph.Node) *graph.Node {
	x := graph.Iota(k.Graph(), shapes.Make(dtypes.Float32, 1024, 1024), 1)
	x = graph.Mul(graph.Sin(graph.MulScalar(x, 0.001)), k)
	for range 4 {
		x = graph.Tanh(graph.MatMul(x, x))
	}
	return graph.ReduceAllMean(x)
})
fmt.Println(step.MustExec1(float32(1)))`,
	}
	for i := range edits {
		c = append(c, fmt.Sprintf("fmt.Println(step.MustExec1(float32(%d)))", i+2))
	}
	return c
}

// manifest describes a recorded session for replay.
type manifest struct {
	Runner string       `json:"runner"` // file name in the folder
	Cells  []recordCell `json:"cells"`
}

type recordCell struct {
	Name   string  `json:"name"`
	Plugin string  `json:"plugin"`  // file name in the folder
	Build  float64 `json:"build_s"` // compilation here: go list + type-check + plugin build
	Code   string  `json:"code"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gpucells record -repo DIR -out DIR | gpucells replay -dir DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "record":
		fs := flag.NewFlagSet("record", flag.ExitOnError)
		repo := fs.String("repo", ".", "the gostudy checkout")
		out := fs.String("out", "bench/out/gpucells", "folder for the runner, the cells and manifest.json")
		edits := fs.Int("edits", 5, "edited cells that rerun the compiled graph")
		_ = fs.Parse(os.Args[2:])
		err = record(*repo, *out, *edits)
	case "replay":
		fs := flag.NewFlagSet("replay", flag.ExitOnError)
		dir := fs.String("dir", "bench/out/gpucells", "folder written by record")
		_ = fs.Parse(os.Args[2:])
		err = replay(*dir)
	default:
		err = fmt.Errorf("unknown step %q (record or replay)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpucells:", err)
		os.Exit(1)
	}
}

// buildTimes collects the engine's per-cell compile timings from its log.
type buildTimes struct {
	mu   sync.Mutex
	last time.Duration
}

func (b *buildTimes) Enabled(context.Context, slog.Level) bool { return true }
func (b *buildTimes) WithAttrs([]slog.Attr) slog.Handler       { return b }
func (b *buildTimes) WithGroup(string) slog.Handler            { return b }
func (b *buildTimes) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "cell" {
		return nil
	}
	var sum time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "packages", "check", "build":
			sum += a.Value.Duration()
		}
		return true
	})
	b.mu.Lock()
	b.last = sum
	b.mu.Unlock()
	return nil
}

// printSink prints what a cell writes to stderr, so stdout stays for the JSON line.
type printSink struct{}

func (printSink) Stream(_, text string)                 { fmt.Fprint(os.Stderr, text) }
func (printSink) Display(display.Message)               {}
func (printSink) Result(display.Bundle, map[string]any) {}
func (printSink) Input(string, bool) (string, error) {
	return "", errors.New("no input in a benchmark")
}

func record(repo, out string, edits int) error {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	old, _ := filepath.Glob(filepath.Join(out, "cell*.so"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	times := &buildTimes{}
	e, err := kernel.NewEngine(kernel.EngineOptions{RepoDir: repo, WorkDir: os.TempDir(), KeepPlugins: out, Log: slog.New(times)})
	if err != nil {
		return err
	}
	defer e.Close()
	ctx := context.Background()
	m := manifest{Runner: "runner.bin"}
	for i, code := range cells(edits) {
		n := i + 1
		if err := e.Execute(ctx, n, code, printSink{}); err != nil {
			return fmt.Errorf("cell %d: %w", n, err)
		}
		times.mu.Lock()
		build := times.last
		times.mu.Unlock()
		kept, _ := filepath.Glob(filepath.Join(out, fmt.Sprintf("cell%d-*.so", n)))
		if len(kept) != 1 {
			return fmt.Errorf("cell %d: want one kept plugin, found %d", n, len(kept))
		}
		name := "edited"
		switch n {
		case 1:
			name = "open backend"
		case 2:
			name = "build + run graph"
		}
		m.Cells = append(m.Cells, recordCell{Name: name, Plugin: filepath.Base(kept[0]), Build: build.Seconds(), Code: code})
	}
	bin, err := os.ReadFile(e.RunnerBinary())
	if err != nil {
		return fmt.Errorf("read runner binary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, m.Runner), bin, 0o755); err != nil {
		return fmt.Errorf("write runner binary: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), data, 0o644)
}

type replayCell struct {
	Name  string  `json:"name"`
	Build float64 `json:"build_s"`
	Run   float64 `json:"run_s"`
}

func replay(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parse manifest: %w", err)
	}
	var plugins []string
	for _, c := range m.Cells {
		plugins = append(plugins, filepath.Join(dir, c.Plugin))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	took, err := kerneltest.Replay(ctx, filepath.Join(dir, m.Runner), plugins, os.Environ(),
		func(_, text string) { fmt.Fprint(os.Stderr, text) })
	if err != nil {
		return err
	}
	res := make([]replayCell, len(took))
	for i, d := range took {
		res[i] = replayCell{Name: m.Cells[i].Name, Build: m.Cells[i].Build, Run: d.Seconds()}
	}
	line, err := json.Marshal(map[string]any{"impl": "gostudy-kernel", "backend": os.Getenv("GOMLX_BACKEND"), "cells": res})
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}
