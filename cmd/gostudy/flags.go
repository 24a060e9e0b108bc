package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// usageError is a command line the command refuses before doing anything: a flag value out
// of range, an unknown name, a missing argument. It exits with status 2, as the flag package
// does for a malformed flag, so that scripts can tell it from a failure of the work itself
// (status 1).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef is a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err (when not nil) as a usage error.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// exitCode is the process status for a command's error: 2 for usage errors, else 1.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseWithPositional parses flags that may come before or after one positional argument
// ("gostudy ablate digits -seeds 3" and "gostudy ablate -seeds 3 digits" both work). Parse
// errors are usage errors; -h is flag.ErrHelp.
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	parse := func(args []string) error {
		err := fs.Parse(args)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			return asUsage(err)
		}
		return err
	}
	if err := parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	name := fs.Arg(0)
	if err := parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", usagef("unexpected arguments %q", fs.Args())
	}
	return name, nil
}

// checkRange rejects an integer flag value outside [lo, hi].
func checkRange(name string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return usagef("-%s %d is out of range: want %d to %d", name, v, lo, hi)
	}
	return nil
}
