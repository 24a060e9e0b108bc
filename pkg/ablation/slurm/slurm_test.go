package slurm

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment/digits"
)

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{[]int{3}, "3"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{9, 0, 1, 5, 2, 7, 8}, "0-2,5,7-9"},
		{[]int{4, 4, 5}, "4-5"},
	} {
		if got := Ranges(c.in); got != c.want {
			t.Errorf("Ranges(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCheckShared(t *testing.T) {
	// /tmp gets a warning, or, where it is a tmpfs, the stronger error.
	w, err := CheckShared("runs folder", "/tmp/some/runs")
	warned := err == nil && strings.Contains(w, "under /tmp")
	refused := err != nil && strings.Contains(err.Error(), "memory filesystem")
	if !warned && !refused {
		t.Errorf("/tmp: warning %q, error %v", w, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err == nil && uint32(st.Type) == tmpfsMagic {
		if _, err := CheckShared("runs folder", "/dev/shm/runs"); err == nil || !strings.Contains(err.Error(), "tmpfs") {
			t.Errorf("/dev/shm is tmpfs here and must be refused: %v", err)
		}
	}
	wd, _ := os.Getwd()
	if w, err := CheckShared("runs folder", filepath.Join(wd, "runs")); err != nil && !strings.Contains(err.Error(), "tmpfs") {
		t.Errorf("a folder in the checkout: %q %v", w, err)
	}
}

// fakeCommands answers squeue and sacct from canned output.
func fakeCommands(outputs map[string]string, failing map[string]bool) Runner {
	return func(ctx context.Context, name string, args ...string) *exec.Cmd {
		if failing[name] {
			return exec.CommandContext(ctx, "sh", "-c", "echo 'accounting storage is disabled' >&2; exit 1")
		}
		return exec.CommandContext(ctx, "printf", "%s", outputs[name])
	}
}

func TestQueryMergesSqueueAndSacct(t *testing.T) {
	jobs := []*Job{{ID: "100", Runs: []int{0, 1, 2, 3}}, {ID: "105", Runs: []int{2}}}
	squeue := "100|0|COMPLETED|None\n100|1|RUNNING|None\n105|2|PENDING|Priority\n77|0|RUNNING|None\n"
	sacct := "100_2|TIMEOUT|0:0\n100_3|CANCELLED by 0|0:15\n100_1|FAILED|1:0\n999_1|FAILED|1:0\n"
	states, err := Query(context.Background(), fakeCommands(map[string]string{"squeue": squeue, "sacct": sacct}, nil), jobs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"100_0": "COMPLETED", "100_1": "RUNNING", "100_2": "TIMEOUT", "100_3": "CANCELLED",
		"105_2": "PENDING"}
	for task, state := range want {
		if states[task].State != state {
			t.Errorf("%s: %+v, want %s", task, states[task], state)
		}
	}
	if len(states) != len(want) {
		t.Errorf("other users' or other ablations' jobs leaked in: %v", states)
	}
	inFlight := InFlight(jobs, states)
	if len(inFlight) != 2 || inFlight[1] != "100_1" || inFlight[2] != "105_2" {
		t.Errorf("in flight %v, want run 1 (100_1) and run 2 (105_2)", inFlight)
	}

	// Without accounting, tasks the controller forgot are unknown, not an error.
	states, err = Query(context.Background(), fakeCommands(map[string]string{"squeue": "100|1|RUNNING|None\n"},
		map[string]bool{"sacct": true}), jobs)
	if err != nil || states["100_3"].State != "" || states["100_3"].Active() || !states["100_1"].Active() {
		t.Errorf("no accounting: %v %v", states, err)
	}
	if _, err := Query(context.Background(), fakeCommands(nil, map[string]bool{"squeue": true}), jobs); err == nil {
		t.Errorf("a failing squeue must be an error: nothing may be submitted twice on a guess")
	}
}

func TestLoadPlanChecksTheLayout(t *testing.T) {
	dir := t.TempDir()
	plan, err := ablation.NewPlan(ablation.Spec{Experiment: digits.Name, Dir: filepath.Join(dir, "runs"), Seeds: 2,
		Grid: []ablation.Axis{{Key: "hidden", Values: []string{"8", "16"}}}, Set: map[string]string{"epochs": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	path, err := writePlan(plan, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(got.Runs) != 4 || got.Runs[3].Dir != plan.Runs[3].Dir || string(got.BaseConfig) != string(plan.BaseConfig) {
		t.Errorf("loaded plan differs: %+v", got.Runs)
	}
	// The same folder for the results: -wait and -collect find the jobs the tasks report to.
	if a, _ := StateDir(plan); a != mustStateDir(t, got) {
		t.Errorf("state folders differ: %s vs %s", a, mustStateDir(t, got))
	}
	// A binary that names a run differently (another config type or defaults) must refuse.
	var pf planFile
	data, _ := os.ReadFile(path)
	json.Unmarshal(data, &pf)
	pf.RunDirs[2] = filepath.Join(dir, "elsewhere")
	data, _ = json.Marshal(pf)
	os.WriteFile(path, data, 0o644)
	if _, err := LoadPlan(path, nil); err == nil || !strings.Contains(err.Error(), "rebuild gostudy") {
		t.Errorf("a plan laid out differently: %v", err)
	}
}

func mustStateDir(t *testing.T, p *ablation.Plan) string {
	d, err := StateDir(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
