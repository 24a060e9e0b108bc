package kernel

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/gostudy/gostudy/internal/checkout"
)

// Command runs the kernel from command-line arguments (-f CONNECTION_FILE [--repo DIR]
// [--gopls PATH] [-v]): what `gostudy kernel` and the lean `gostudy-kernel` do.
func Command(args []string) error {
	fs := flag.NewFlagSet("kernel", flag.ContinueOnError)
	conn := fs.String("f", "", "Jupyter connection file")
	repo := fs.String("repo", "", "gostudy checkout (default: found from the executable)")
	gopls := fs.String("gopls", "", "gopls binary (default: next to this executable, else on PATH)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conn == "" {
		return errors.New("missing -f CONNECTION_FILE")
	}
	dir, err := FindRepo(*repo)
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	if *gopls == "" {
		*gopls = FindGopls(exe)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// SIGINT goes to the whole process group when a front end uses interrupt_mode "signal";
	// the kernel uses interrupt messages, so a stray SIGINT must not kill it.
	signal.Ignore(syscall.SIGINT)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx = watchParent(ctx, log, parentPollInterval, os.Getppid)
	return Run(ctx, Options{ConnectionFile: *conn, RepoDir: dir, GoplsPath: *gopls, Log: log})
}

// FindRepo finds the gostudy checkout: the flag, else the directory above the executable
// (the set-up builds it into <repo>/.bin), else the working directory or one above it.
func FindRepo(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	// The executable's checkout first: the kernel must compile cells against the sources it
	// was built from, wherever Jupyter starts it.
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	dir, err := checkout.Find(append(starts, checkout.Starts()...)...)
	if err != nil {
		return "", fmt.Errorf("%w; pass --repo", err)
	}
	return dir, nil
}
