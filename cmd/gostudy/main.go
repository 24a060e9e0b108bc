// Command gostudy is the project's command-line tool: the Jupyter kernel, its installer,
// and the experiment commands (ablations, export).
//
//	gostudy kernel -f CONNECTION_FILE [--repo DIR]   run the kernel (Jupyter starts this)
//	gostudy install [--data-dir DIR | --user] [--repo DIR]
//	gostudy ablate ...                               run an ablation grid (see gostudy ablate -h)
//	gostudy export ...                               export a trained run (see gostudy export -h)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/gostudy/gostudy/kernel"
	"github.com/gostudy/gostudy/pkg/display"
)

// command is one subcommand.
type command struct {
	run   func(args []string) error
	usage string
}

// commands is the subcommand table; other files of this package add their own in init.
var commands = map[string]command{
	"kernel":  {runKernel, "run the Jupyter kernel (started by Jupyter through kernel.json)"},
	"install": {runInstall, "install the kernelspec into a Jupyter data directory"},
	"version": {func([]string) error { fmt.Println("gostudy", kernel.Version); return nil }, "print the version"},
	"warm":    {runWarm, "compile the packages notebooks use into the Go build cache (run by the set-up)"},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gostudy: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "gostudy %s: %v\n", os.Args[1], err)
		os.Exit(exitCode(err))
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gostudy <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].usage)
	}
}

// repoDir finds the gostudy checkout (see kernel.FindRepo).
func repoDir(flagValue string) (string, error) { return kernel.FindRepo(flagValue) }

func runKernel(args []string) error { return kernel.Command(args) }

func runInstall(args []string) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "Jupyter data directory to install into (e.g. .venv/share/jupyter)")
	user := fs.Bool("user", false, "install into the per-user Jupyter data directory")
	repo := fs.String("repo", "", "gostudy checkout (default: found from the executable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := repoDir(*repo)
	if err != nil {
		return err
	}
	if *user && *dataDir != "" {
		return errors.New("use either --user or --data-dir")
	}
	target := *dataDir
	if !*user && target == "" {
		target = filepath.Join(dir, ".venv", "share", "jupyter")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate this executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("locate this executable: %w", err)
	}
	// Jupyter starts the lean build next to this one when the set-up made it (see setup.sh).
	if lean := filepath.Join(filepath.Dir(exe), "gostudy-kernel"); lean != exe {
		if fi, err := os.Stat(lean); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			exe = lean
		}
	}
	path, err := kernel.InstallKernelspec(target, exe, dir)
	if err != nil {
		return err
	}
	fmt.Printf("installed the gostudy kernelspec in %s\n", path)
	return nil
}

// printSink prints an execution's output to the terminal.
type printSink struct{}

func (printSink) Stream(name, text string) {
	if name == "stderr" {
		fmt.Fprint(os.Stderr, text)
	} else {
		fmt.Print(text)
	}
}
func (printSink) Display(display.Message)               {}
func (printSink) Result(display.Bundle, map[string]any) {}
func (printSink) Input(string, bool) (string, error)    { return "", errors.New("no input here") }

func runWarm(args []string) error {
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	repo := fs.String("repo", "", "gostudy checkout (default: found from the executable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := repoDir(*repo)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := kernel.NewEngine(kernel.EngineOptions{RepoDir: dir, WorkDir: os.TempDir(), Log: log})
	if err != nil {
		return err
	}
	defer e.Close()
	return e.Warm(context.Background(), printSink{})
}
