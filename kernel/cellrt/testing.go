package cellrt

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

var testingInit sync.Once

// RunTests runs a cell's Test and Benchmark functions (the %test magic) with the standard
// testing package, verbosely, inside the runner (so they see the session's variables), and
// panics when a test fails so the cell reports an error.
//
// testing.RunTests alone runs nothing (its CPU list is only set up by M.Run), so this goes
// through testing.MainStart, which needs the small set of hooks `go test` normally links in.
func RunTests(tests map[string]func(*testing.T), benchmarks map[string]func(*testing.B)) {
	testingInit.Do(func() {
		testing.Init()
		_ = flag.CommandLine.Parse(nil)
	})
	_ = flag.Set("test.v", "true")
	_ = flag.Set("test.bench", ".")
	_ = flag.Set("test.benchmem", "true")
	var its []testing.InternalTest
	for _, name := range slices.Sorted(maps.Keys(tests)) {
		its = append(its, testing.InternalTest{Name: name, F: tests[name]})
	}
	var ibs []testing.InternalBenchmark
	for _, name := range slices.Sorted(maps.Keys(benchmarks)) {
		ibs = append(ibs, testing.InternalBenchmark{Name: name, F: benchmarks[name]})
	}
	if len(its) == 0 && len(ibs) == 0 {
		fmt.Println("no Test or Benchmark functions in this cell")
		return
	}
	if code := testing.MainStart(testHooks{}, its, ibs, nil, nil).Run(); code != 0 {
		panic("tests failed")
	}
}

// corpusEntry matches the testing package's fuzz corpus entry type (an alias of an unnamed
// struct, so an identical struct type here is the same type).
type corpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}

// testHooks implements the hooks testing.MainStart expects; profiling, test logs, coverage
// and fuzzing are not offered in cells.
type testHooks struct{}

func (testHooks) ImportPath() string { return "" }
func (testHooks) ModulePath() string { return "" }
func (testHooks) MatchString(pat, str string) (bool, error) {
	return regexp.MatchString(pat, str)
}
func (testHooks) SetPanicOnExit0(bool) {}
func (testHooks) StartCPUProfile(io.Writer) error {
	return errors.New("profiling is not available in cells")
}
func (testHooks) StopCPUProfile()                                          {}
func (testHooks) StartTestLog(io.Writer)                                   {}
func (testHooks) StopTestLog() error                                       { return nil }
func (testHooks) WriteProfileTo(string, io.Writer, int) error              { return nil }
func (testHooks) ReadCorpus(string, []reflect.Type) ([]corpusEntry, error) { return nil, nil }
func (testHooks) CheckCorpus([]any, []reflect.Type) error                  { return nil }
func (testHooks) ResetCoverage()                                           {}
func (testHooks) SnapshotCoverage()                                        {}
func (testHooks) RunFuzzWorker(func(corpusEntry) error) error {
	return errors.New("fuzzing is not available in cells")
}
func (testHooks) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []corpusEntry, []reflect.Type, string, string) error {
	return errors.New("fuzzing is not available in cells")
}
func (testHooks) InitRuntimeCoverage() (string, func(string, string) (string, error), func() float64) {
	return "", nil, nil
}
