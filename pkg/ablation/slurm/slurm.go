// Package slurm runs an ablation's grid on a Slurm cluster with Slurm's own tools: one job
// array per submission (sbatch --array), squeue and sacct for task states. Nothing here
// schedules anything.
//
// Array task ids are run indices of the [ablation.Plan] (grid point × seed, point-major), so
// task I of every submission trains the same run: `gostudy ablate -plan FILE -task I` calls
// [ablation.Plan.Train], the call a local ablation makes for each run. Skipping done runs,
// resuming cut ones and the one-trainer-per-run lock are therefore the local ones, and a
// resubmission lists only the runs that are neither done nor queued or running.
//
// Everything a submission writes lives in the ablation's results folder, which must be on a
// filesystem the nodes share (at the same path):
//
//	<results>/slurm/plan.json            the frozen plan the tasks read
//	<results>/slurm/job-<id>.json        one per submission: job id, run indices, sbatch arguments
//	<results>/slurm/job-<id>.sbatch      the batch script sbatch was given
//	<results>/slurm/logs/<id>_<run>.log  each task's stdout and stderr (appended across requeues)
package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// ErrNoSbatch is returned when sbatch is not on PATH.
var ErrNoSbatch = errors.New("sbatch is not on PATH: -slurm needs a machine where Slurm's client commands work " +
	"(a cluster's login node); load Slurm (e.g. `module load slurm`) or run without -slurm to train here")

// StateDir is the folder of an ablation's Slurm files: <results dir>/slurm, absolute.
func StateDir(plan *ablation.Plan) (string, error) {
	dir, err := filepath.Abs(filepath.Join(plan.ResultsDir(), "slurm"))
	if err != nil {
		return "", fmt.Errorf("slurm state folder: %w", err)
	}
	return dir, nil
}

// planFile is the plan as the tasks read it: the spec frozen at submission (base config as
// JSON, so editing a config file later changes nothing), and every run's directory, so that a
// task whose binary lays the grid out differently fails instead of training the wrong run.
type planFile struct {
	Experiment string          `json:"experiment"`
	BaseConfig json.RawMessage `json:"base_config"`
	Grid       []ablation.Axis `json:"grid"`
	Seeds      int             `json:"seeds"`
	FirstSeed  int64           `json:"first_seed"`
	Dir        string          `json:"dir"`
	RunDirs    []string        `json:"run_dirs"`
}

const planName = "plan.json"

// writePlan writes the plan file into state and returns its path.
func writePlan(plan *ablation.Plan, state string) (string, error) {
	root := plan.Spec.Dir
	if root == "" {
		root = "runs"
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("runs folder: %w", err)
	}
	pf := planFile{Experiment: plan.Experiment.ExperimentName(), BaseConfig: plan.BaseConfig, Grid: plan.Spec.Grid,
		Seeds: len(plan.Seeds), FirstSeed: plan.Seeds[0], Dir: absRoot}
	for _, r := range plan.Runs {
		abs, err := filepath.Abs(r.Dir)
		if err != nil {
			return "", err
		}
		pf.RunDirs = append(pf.RunDirs, abs)
	}
	path := filepath.Join(state, planName)
	return path, writeJSON(path, pf)
}

// LoadPlan reads a plan file written at submission and rebuilds the plan with this binary's
// experiment registry. progress receives the runs' events.
func LoadPlan(path string, progress experiment.Progress) (*ablation.Plan, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		host, _ := os.Hostname()
		return nil, fmt.Errorf("%s does not exist on %s: the runs folder must be on a filesystem every Slurm node "+
			"shares, at the same path (a home or project folder on NFS, Lustre, GPFS; not /tmp or a node's local disk)", path, host)
	}
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var pf planFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, fmt.Errorf("decode plan %s: %w", path, err)
	}
	r, err := experiment.Lookup(pf.Experiment)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	base := r.NewConfig()
	if err := json.Unmarshal(pf.BaseConfig, base); err != nil {
		return nil, fmt.Errorf("plan %s: base config: %w", path, err)
	}
	plan, err := ablation.NewPlan(ablation.Spec{Runnable: r, Base: base, Grid: pf.Grid, Seeds: pf.Seeds,
		FirstSeed: pf.FirstSeed, Dir: pf.Dir, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	if len(plan.Runs) != len(pf.RunDirs) {
		return nil, fmt.Errorf("plan %s has %d runs, this binary lays it out as %d: rebuild gostudy from the "+
			"commit that submitted it", path, len(pf.RunDirs), len(plan.Runs))
	}
	for i, run := range plan.Runs {
		if run.Dir != pf.RunDirs[i] {
			return nil, fmt.Errorf("plan %s: run %d is %s, but this binary names it %s (a different config "+
				"type or defaults): rebuild gostudy from the commit that submitted it", path, i, pf.RunDirs[i], run.Dir)
		}
	}
	return plan, nil
}

// Job is one submission: an array job whose task ids are run indices.
type Job struct {
	// ID is the array job id sbatch printed.
	ID string `json:"id"`
	// Runs are the array's task ids: the run indices it trains.
	Runs      []int     `json:"runs"`
	Submitted time.Time `json:"submitted"`
	// Sbatch are the arguments sbatch was called with (the script last).
	Sbatch []string `json:"sbatch"`
	// Logs is the folder of the tasks' log files.
	Logs string `json:"logs"`
}

// Log is the log file of the task that trains run (Slurm's %A_%a).
func (j *Job) Log(run int) string {
	return filepath.Join(j.Logs, fmt.Sprintf("%s_%d.log", j.ID, run))
}

// Task names one array task: "<job id>_<run index>".
func (j *Job) Task(run int) string { return fmt.Sprintf("%s_%d", j.ID, run) }

// SubmitOptions tune a submission.
type SubmitOptions struct {
	// Executable is the gostudy binary the nodes run (absolute, on a shared filesystem).
	Executable string
	// Sbatch are extra sbatch options ("--partition=gpu", "--gpus-per-task=1",
	// "--time=2:00:00"); they come after gostudy's own and so override them.
	Sbatch []string
	// MaxRunning caps the array's tasks running at once (sbatch --array=…%N); 0: no cap.
	MaxRunning int
	// Command runs sbatch; nil means exec.CommandContext (tests substitute a fake).
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
}

func (o SubmitOptions) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if o.Command != nil {
		return o.Command(ctx, name, args...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// Submit submits one job array that trains the given runs of plan (task id = run index) and
// records it in the plan's state folder.
func Submit(ctx context.Context, plan *ablation.Plan, runs []int, opts SubmitOptions) (*Job, error) {
	if len(runs) == 0 {
		return nil, errors.New("submit: no runs to train")
	}
	if _, err := exec.LookPath("sbatch"); err != nil && opts.Command == nil {
		return nil, ErrNoSbatch
	}
	if !filepath.IsAbs(opts.Executable) {
		return nil, fmt.Errorf("submit: the gostudy executable %q must be an absolute path", opts.Executable)
	}
	state, err := StateDir(plan)
	if err != nil {
		return nil, err
	}
	logs := filepath.Join(state, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("create the Slurm log folder: %w", err)
	}
	planPath, err := writePlan(plan, state)
	if err != nil {
		return nil, err
	}
	// The script is written before the job id exists; it is renamed after it once sbatch
	// answers (sbatch keeps its own copy, so the name does not matter to Slurm).
	script, err := os.CreateTemp(state, "submit-*.sbatch")
	if err != nil {
		return nil, fmt.Errorf("write the batch script: %w", err)
	}
	if _, err := script.WriteString(batchScript(plan, opts.Executable, planPath)); err != nil {
		script.Close()
		return nil, fmt.Errorf("write the batch script: %w", err)
	}
	if err := script.Close(); err != nil {
		return nil, fmt.Errorf("write the batch script: %w", err)
	}
	array := Ranges(runs)
	if opts.MaxRunning > 0 {
		array += "%" + strconv.Itoa(opts.MaxRunning)
	}
	args := []string{
		"--parsable",
		"--array=" + array,
		"--job-name=gostudy-" + plan.Experiment.ExperimentName(),
		"--output=" + filepath.Join(logs, "%A_%a.log"),
		// A requeued task (preemption) writes on after its earlier attempt instead of over it.
		"--open-mode=append",
	}
	args = append(args, opts.Sbatch...)
	args = append(args, script.Name())
	cmd := opts.command(ctx, "sbatch", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(script.Name())
		return nil, fmt.Errorf("sbatch %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	// --parsable prints "<job id>" or "<job id>;<cluster>".
	id, _, _ := strings.Cut(strings.TrimSpace(lastLine(stdout.String())), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, fmt.Errorf("sbatch printed %q, not a job id (stderr: %s)", stdout.String(), strings.TrimSpace(stderr.String()))
	}
	job := &Job{ID: id, Runs: append([]int(nil), runs...), Submitted: time.Now().UTC(), Logs: logs}
	final := filepath.Join(state, "job-"+id+".sbatch")
	if err := os.Rename(script.Name(), final); err != nil {
		final = script.Name()
	}
	job.Sbatch = append(args[:len(args)-1:len(args)-1], final)
	if err := writeJSON(filepath.Join(state, "job-"+id+".json"), job); err != nil {
		return job, fmt.Errorf("job %s was submitted, but recording it failed (squeue still shows it): %w", id, err)
	}
	return job, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// batchScript is the script every array task runs: check that the node sees the binary
// (the plan is checked by gostudy itself), then become gostudy, so that Slurm's signals
// (scancel, the time limit, --signal) reach it directly.
func batchScript(plan *ablation.Plan, exe, planPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# gostudy ablation of %s: array task I trains run I of %s\n", plan.Experiment.ExperimentName(), planPath)
	fmt.Fprintf(&b, "# (grid point I / %d, seed position I %% %d; skipped when done, resumed when cut).\n",
		len(plan.Seeds), len(plan.Seeds))
	fmt.Fprintf(&b, "gostudy=%s\n", shellQuote(exe))
	fmt.Fprintf(&b, "if [ ! -x \"$gostudy\" ]; then\n")
	fmt.Fprintf(&b, "\techo \"gostudy slurm task: $gostudy is not on node $(hostname): build gostudy into a folder every node shares\" >&2\n")
	fmt.Fprintf(&b, "\texit 2\nfi\n")
	fmt.Fprintf(&b, "exec \"$gostudy\" ablate -plan %s -task \"$SLURM_ARRAY_TASK_ID\"\n", shellQuote(planPath))
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Ranges writes sorted, distinct indices as Slurm's array syntax: "0-3,5,7-9".
func Ranges(idx []int) string {
	s := append([]int(nil), idx...)
	sort.Ints(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] <= s[j]+1 {
			j++
		}
		if s[i] == s[j] {
			parts = append(parts, strconv.Itoa(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Jobs reads the submissions recorded in the plan's state folder, oldest first.
func Jobs(plan *ablation.Plan) ([]*Job, error) {
	state, err := StateDir(plan)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(state, "job-*.json"))
	if err != nil {
		return nil, err
	}
	var jobs []*Job
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f, err)
		}
		jobs = append(jobs, &j)
	}
	sort.Slice(jobs, func(a, b int) bool {
		ia, _ := strconv.ParseUint(jobs[a].ID, 10, 64)
		ib, _ := strconv.ParseUint(jobs[b].ID, 10, 64)
		return ia < ib
	})
	return jobs, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Memory filesystems (statfs f_type): always local to one machine.
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// CheckShared looks for what can be seen from here of a path that Slurm nodes will not
// share: a memory filesystem is an error; /tmp, /var/tmp and /dev/shm, node-local on nearly
// every cluster, give a warning. Whether a disk is really shared only a node can tell: a task
// that cannot see the plan file says so in its log.
func CheckShared(what, path string) (warning string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	probe := abs
	for {
		if _, err := os.Stat(probe); err == nil || filepath.Dir(probe) == probe {
			break
		}
		probe = filepath.Dir(probe)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(probe, &st); err == nil && (uint32(st.Type) == tmpfsMagic || uint32(st.Type) == ramfsMagic) {
		return "", fmt.Errorf("%s %s is on a memory filesystem (tmpfs), which only this machine sees; "+
			"put it on a filesystem the Slurm nodes share", what, abs)
	}
	for _, local := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		if abs == local || strings.HasPrefix(abs, local+"/") {
			return fmt.Sprintf("%s %s is under %s, which is local to each node on most clusters; "+
				"tasks on other nodes will not see it", what, abs, local), nil
		}
	}
	return "", nil
}
