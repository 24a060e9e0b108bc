package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/ablation/slurm"
)

// The tests run the command as a user would: this test binary re-executed with the
// command line in $GOSTUDY_CLI_ARGS runs main(), so exit statuses are real.
const cliArgsEnv = "GOSTUDY_CLI_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(cliArgsEnv); ok {
		os.Args = append([]string{"gostudy"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// gostudy runs `gostudy args...` with exe (this test binary or a copy) and extra environment.
func gostudyExe(t *testing.T, exe string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(exe)
	// The pure-Go backend: the runs here are tiny, and XLA's compile time would dominate.
	cmd.Env = append(append(os.Environ(), cliArgsEnv+"="+strings.Join(args, "\x1f"), "GOMLX_BACKEND=go",
		"GOSTUDY_QUIET=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run gostudy %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func gostudy(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return gostudyExe(t, os.Args[0], env, args...)
}

// TestOutOfRangeFlagsExit2 is issue 13 item 12: `ablate -seeds -3` used to train one seed and
// `export -batch 0` to write a batch-1 model, both with status 0.
func TestOutOfRangeFlagsExit2(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	small := []string{"-dir", runs, "-set", "epochs=1", "-set", "train_size=64", "-set", "val_size=32", "-set", "test_size=32"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ablate", "digits", "-seeds", "-3"}, "-seeds -3 is out of range"},
		{[]string{"ablate", "digits", "-seeds", "0"}, "-seeds 0 is out of range"},
		{[]string{"ablate", "digits", "-seeds", "100000"}, "-seeds 100000 is out of range"},
		{[]string{"ablate", "digits", "-first-seed", "-1"}, "-first-seed -1 is out of range"},
		{[]string{"ablate", "digits", "-seeds", "two"}, `invalid value "two" for flag -seeds`},
		{[]string{"ablate", "digits", "-task", "-2"}, "-task -2 is out of range"},
		{[]string{"ablate", "digits", "-task", "1"}, "-task 1: this grid has runs 0 to 0"},
		{[]string{"ablate", "digits", "-plan", "x.json"}, "-plan needs -task"},
		{[]string{"ablate", "digits", "-wait"}, "-wait only applies with -slurm"},
		{[]string{"ablate", "digits", "-slurm", "-poll", "10ms"}, "-poll 10ms is out of range"},
		{[]string{"ablate", "digits", "-slurm", "-slurm-max-running", "-1"}, "-slurm-max-running -1 is out of range"},
		{[]string{"ablate", "digits", "-slurm", "-slurm-opt", "partition=gpu"}, "want an sbatch option"},
		{[]string{"ablate", "digits", "-slurm", "-collect", "-retrain", "0"}, "-retrain trains"},
		{[]string{"ablate", "digits", "-retrain", "5"}, "-retrain: run index 5: this ablation has runs 0-0"},
		{[]string{"ablate", "digits", "-retrain", "hidden=3"}, `"hidden" is not a grid key`},
		{[]string{"ablate", "digits", "-grid", "jitter=1,5"}, "jitter 5 outside"},
		{[]string{"ablate", "digits", "-grid", "hiden=1"}, "hiden"},
		{[]string{"ablate", "no-such-experiment"}, "no experiment named"},
		{[]string{"ablate", "-seeds", "2"}, "missing the experiment name"},
		{[]string{"export", "some/run", "-batch", "0"}, "-batch 0 is out of range"},
		{[]string{"export", "some/run", "-batch", "-5"}, "-batch -5 is out of range"},
		{[]string{"export", "some/run", "-format", "pt"}, `-format "pt": want onnx or safetensors`},
		{[]string{"export", "some/run", "-o", ""}, "-o is empty"},
		{[]string{"export", "-batch", "2"}, "missing the run directory"},
	}
	for _, c := range cases {
		args := append(append([]string(nil), c.args...), small...)
		if c.args[0] == "export" {
			args = c.args
		}
		r := gostudy(t, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("gostudy %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), r.code,
				lastLines(r.stderr, 2), c.want)
		}
	}
	if _, err := os.Stat(runs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected command line must not train anything, but %s exists", runs)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

func TestSlurmWithoutSbatch(t *testing.T) {
	r := gostudy(t, []string{"PATH=" + t.TempDir()}, "ablate", "digits", "-slurm", "-dir", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "sbatch is not on PATH") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// fakeSlurm puts sbatch, squeue and sacct scripts on PATH. sbatch records its arguments and
// prints job ids from 4242 up; squeue prints the file squeue.out; sacct fails as it does on a
// cluster without accounting.
func fakeSlurm(t *testing.T, dir string) []string {
	t.Helper()
	bin := filepath.Join(dir, "fakebin")
	os.MkdirAll(bin, 0o755)
	scripts := map[string]string{
		"sbatch": `#!/bin/sh
n=$(cat "$FAKE_SLURM/next" 2>/dev/null || echo 4242)
printf '%s\n' "$@" > "$FAKE_SLURM/sbatch-$n.args"
echo $((n + 1)) > "$FAKE_SLURM/next"
echo "$n"
`,
		"squeue": `#!/bin/sh
cat "$FAKE_SLURM/squeue.out" 2>/dev/null
exit 0
`,
		"sacct": `#!/bin/sh
echo "sacct: error: Slurm accounting storage is disabled" >&2
exit 1
`,
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE_SLURM=" + dir}
}

// sharedTempDir is a temporary folder that -slurm accepts as shared: t.TempDir() unless
// that is on a memory filesystem, else one in the package folder.
func sharedTempDir(t *testing.T) string {
	dir := t.TempDir()
	if _, err := slurm.CheckShared("test folder", dir); err == nil {
		return dir
	}
	dir, err := os.MkdirTemp(".", ".test-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, _ := filepath.Abs(dir)
	return abs
}

// copyTestBinary copies this test binary to dir/gostudy: -slurm refuses binaries in go-build
// folders (go run's, which the nodes cannot run), which is where `go test` builds this one.
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, "gostudy")
	if err := os.Link(os.Args[0], dst); err == nil {
		return dst
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestSlurmSubmitResubmitAndCollect drives -slurm against fake Slurm commands: what is
// submitted, what is not submitted twice, what a task runs, how failures are reported.
// scripts/slurm-test.sh does the same against a real Slurm cluster.
func TestSlurmSubmitResubmitAndCollect(t *testing.T) {
	dir := sharedTempDir(t)
	exe := copyTestBinary(t, dir)
	env := fakeSlurm(t, dir)
	runs := filepath.Join(dir, "runs")
	args := []string{"ablate", "digits", "-dir", runs, "-grid", "hidden=16,32", "-seeds", "2", "-set", "epochs=1",
		"-set", "train_size=64", "-set", "val_size=32", "-set", "test_size=32", "-slurm",
		"-slurm-opt=--partition=gpu", "-slurm-opt=--time=10"}

	// The first submission: one array over the 4 runs, the user's options last.
	r := gostudyExe(t, exe, env, append(args, "-q")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "4242" {
		t.Fatalf("submit: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	sb, _ := os.ReadFile(filepath.Join(dir, "sbatch-4242.args"))
	sbArgs := strings.Split(strings.TrimSpace(string(sb)), "\n")
	if len(sbArgs) != 8 || sbArgs[1] != "--array=0-3" || sbArgs[2] != "--job-name=gostudy-digits" ||
		!strings.HasSuffix(sbArgs[3], "/slurm/logs/%A_%a.log") || sbArgs[5] != "--partition=gpu" || sbArgs[6] != "--time=10" {
		t.Errorf("sbatch arguments %q", sbArgs)
	}
	state := filepath.Dir(filepath.Dir(strings.TrimPrefix(sbArgs[3], "--output=")))
	script, err := os.ReadFile(filepath.Join(state, "job-4242.sbatch"))
	planPath := filepath.Join(state, "plan.json")
	if err != nil || !strings.Contains(string(script), "exec \"$gostudy\" ablate -plan '"+planPath+"' -task \"$SLURM_ARRAY_TASK_ID\"") ||
		!strings.Contains(string(script), "gostudy='"+exe+"'") {
		t.Errorf("batch script (%v):\n%s", err, script)
	}
	var job slurm.Job
	if data, err := os.ReadFile(filepath.Join(state, "job-4242.json")); err != nil || json.Unmarshal(data, &job) != nil ||
		!reflect.DeepEqual(job.Runs, []int{0, 1, 2, 3}) {
		t.Fatalf("job record: %v %+v", err, job)
	}

	// While the array is queued or running, a rerun submits nothing.
	os.WriteFile(filepath.Join(dir, "squeue.out"), []byte("4242|0|RUNNING|None\n4242|1|RUNNING|None\n"+
		"4242|2|PENDING|Resources\n4242|3|PENDING|Resources\n9999|0|RUNNING|None\n"), 0o644)
	r = gostudyExe(t, exe, env, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing submitted: 4 runs are queued or running") {
		t.Errorf("rerun while running: exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "sbatch-4243.args")); err == nil {
		t.Errorf("a run in flight was submitted twice")
	}

	// Tasks 0 and 2 ran (the task entry, as the batch script calls it); 1 was cancelled, 3 failed.
	for _, task := range []string{"0", "2"} {
		if r := gostudyExe(t, exe, nil, "ablate", "-plan", planPath, "-task", task); r.code != 0 ||
			!strings.Contains(r.stderr, "run "+task+" of 4") || !strings.Contains(r.stderr, "run "+task+" done on ") {
			t.Fatalf("task %s: exit %d, stderr %s", task, r.code, r.stderr)
		}
	}
	os.WriteFile(filepath.Join(job.Logs, "4242_3.log"), []byte("some output\nerror: out of memory\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "squeue.out"), []byte("4242|0|COMPLETED|None\n4242|1|CANCELLED|None\n"+
		"4242|2|COMPLETED|None\n4242|3|FAILED|NonZeroExitCode\n"), 0o644)

	// -collect: the table of what is done, the missing runs with their task state and log.
	r = gostudyExe(t, exe, env, append(args, "-collect")...)
	if r.code != 1 || !strings.Contains(r.stdout, "| 16 |") || !strings.Contains(r.stdout, "1 (1 missing)") ||
		!strings.Contains(r.stdout, "Slurm task 4242_1 CANCELLED; log "+job.Log(1)+" (absent") ||
		!strings.Contains(r.stdout, "Slurm task 4242_3 FAILED (NonZeroExitCode); log "+job.Log(3)) ||
		!strings.Contains(r.stderr, "error: out of memory") || !strings.Contains(r.stderr, "2 of 4 runs have no result") {
		t.Errorf("collect: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "sbatch-4243.args")); err == nil {
		t.Errorf("-collect submitted a job")
	}
	t.Logf("collect:\n%s%s", r.stdout, r.stderr)

	// A rerun names the failed tasks and submits exactly their runs again.
	r = gostudyExe(t, exe, env, args...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "4243" ||
		!strings.Contains(r.stderr, "Slurm task 4242_1 CANCELLED without finishing it") ||
		!strings.Contains(r.stderr, "Slurm task 4242_3 FAILED without finishing it") {
		t.Errorf("resubmit: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	sb, _ = os.ReadFile(filepath.Join(dir, "sbatch-4243.args"))
	if !strings.Contains(string(sb), "--array=1,3\n") {
		t.Errorf("resubmission arguments %q", sb)
	}

	// -retrain of a finished run resubmits it (its state is discarded first).
	os.WriteFile(filepath.Join(dir, "squeue.out"), []byte("4243|1|RUNNING|None\n4243|3|RUNNING|None\n"), 0o644)
	r = gostudyExe(t, exe, env, append(args, "-retrain", "hidden=16,seed=0")...)
	sb, _ = os.ReadFile(filepath.Join(dir, "sbatch-4244.args"))
	if r.code != 0 || !strings.Contains(string(sb), "--array=0\n") {
		t.Errorf("retrain: exit %d, stderr %s, sbatch %q", r.code, r.stderr, sb)
	}
	r = gostudyExe(t, exe, env, append(args, "-retrain", "hidden=16,seed=1")...)
	if r.code != 1 || !strings.Contains(r.stderr, "Slurm task 4243_1 is training it now") {
		t.Errorf("retrain of a run in flight: exit %d, stderr %s", r.code, r.stderr)
	}
}

// TestSlurmTaskOnANodeWithoutTheRunsFolder: a task whose node does not see the plan file
// says that the runs folder is not shared.
func TestSlurmTaskOnANodeWithoutTheRunsFolder(t *testing.T) {
	r := gostudy(t, nil, "ablate", "-plan", filepath.Join(t.TempDir(), "nowhere", "plan.json"), "-task", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "the runs folder must be on a filesystem every Slurm node shares") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}

// TestCorruptRecordIsReported: a finished run whose record.json is corrupt is trained again,
// and the command says so (even with -q) and where it kept the file.
func TestCorruptRecordIsReported(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	args := []string{"ablate", "digits", "-dir", runs, "-set", "epochs=1", "-set", "train_size=64", "-set", "val_size=32",
		"-set", "test_size=32", "-q"}
	if r := gostudy(t, nil, args...); r.code != 0 {
		t.Fatalf("first run: exit %d, %s", r.code, r.stderr)
	}
	records, _ := filepath.Glob(filepath.Join(runs, "digits", "*", "seed-0", "record.json"))
	if len(records) != 1 {
		t.Fatalf("records %v", records)
	}
	os.WriteFile(records[0], []byte("{not json"), 0o644)
	r := gostudy(t, nil, args...)
	kept, _ := filepath.Glob(filepath.Join(filepath.Dir(records[0]), "record.corrupt-*.json"))
	if r.code != 0 || len(kept) != 1 || !strings.Contains(r.stderr, "WARNING") ||
		!strings.Contains(r.stderr, "kept as "+kept[0]) || !strings.Contains(r.stderr, "training the run from the start") {
		t.Errorf("exit %d, kept %v, stderr %s", r.code, kept, r.stderr)
	}
}
