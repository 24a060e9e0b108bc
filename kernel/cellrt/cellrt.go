// Package cellrt is the small runtime shared by the runner process and every compiled cell.
//
// The runner imports it and every cell plugin imports it, so there is exactly one copy of its
// state in the runner process: the registry of variables that live across cells, the context
// of the running cell, and the hook that shows a cell's final value. Generated cell code is the
// only intended caller of the exported functions; their names are part of the contract between
// kernel/compiler (which writes the calls) and kernel/runner (which installs the hooks).
package cellrt

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"unsafe"
)

// EntryPoint is the function every compiled cell exports and the runner calls to run it.
const EntryPoint = "GostudyRun"

// variable is one value that lives across cells: the address of its storage, the dynamic
// pointer (so the runner can describe it) and the cell that declared it.
type variable struct {
	ptr   unsafe.Pointer
	value any
	cell  int
}

var (
	mu        sync.Mutex
	vars      = map[string]variable{}
	published []string // names published by the current cell, in order
	cellNum   int
	cellCtx   = context.Background()
	resultFn  func(values []any)
)

// Lookup returns the storage of a variable declared by an earlier cell. A cell binds its
// view of the variable once, when its plugin is initialized; the compiler guarantees the
// variable exists and that its type has not changed since it was published.
func Lookup(name string) unsafe.Pointer {
	mu.Lock()
	defer mu.Unlock()
	v, ok := vars[name]
	if !ok {
		// The compiler only binds names the runner reported as published, so this means the
		// runner restarted underneath the kernel; a clear panic beats a nil dereference later.
		panic(fmt.Sprintf("gostudy: variable %q is no longer available (the runner was restarted); re-run the cell that declares it", name))
	}
	return v.ptr
}

// Publish makes the storage p visible to later cells under name, replacing any earlier
// variable of that name. It is called right after the statement that declares the variable
// has run, so a cell that panics before a declaration leaves the older value in place.
func Publish[T any](name string, p *T) {
	mu.Lock()
	defer mu.Unlock()
	vars[name] = variable{ptr: unsafe.Pointer(p), value: p, cell: cellNum}
	published = append(published, name)
}

// Result shows the value(s) of a cell's final expression as its execute_result.
func Result(values ...any) {
	mu.Lock()
	fn := resultFn
	mu.Unlock()
	if fn != nil {
		fn(values)
	}
}

// Discard evaluates a cell's final expression without showing it (the cell ended in ";").
func Discard(...any) {}

// Context is the context of the running cell: it is cancelled when the user interrupts the
// cell, so training loops that watch it stop promptly and keep the session's state.
func Context() context.Context {
	mu.Lock()
	defer mu.Unlock()
	return cellCtx
}

// BeginCell is called by the runner before it loads a cell: it sets the cell's number and
// context and clears the list of names the cell publishes.
func BeginCell(n int, ctx context.Context, onResult func(values []any)) {
	mu.Lock()
	defer mu.Unlock()
	cellNum, cellCtx, resultFn = n, ctx, onResult
	published = nil
}

// EndCell returns the names the cell published, in order, without duplicates.
func EndCell() []string {
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	var names []string
	for _, n := range published {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	published = nil
	resultFn = nil
	return names
}

// Drop forgets variables (after %reset, or when the kernel found that a variable's type
// changed); their storage becomes garbage once no closure refers to it.
func Drop(names ...string) {
	mu.Lock()
	defer mu.Unlock()
	for _, n := range names {
		delete(vars, n)
	}
}

// Names lists the live variables, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Value returns the pointer to a live variable (as *T in an interface) for inspection.
func Value(name string) (any, bool) {
	mu.Lock()
	defer mu.Unlock()
	v, ok := vars[name]
	return v.value, ok
}
