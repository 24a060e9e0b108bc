#!/usr/bin/env bash
# slurm-test.sh — test `gostudy ablate -slurm` against a real Slurm, on this machine.
#
# Installs Debian's slurm-wlm and munge when missing (apt; root or passwordless sudo), starts a
# private single-node cluster (its own munged, slurmctld and slurmd, config, ports and state in
# a temporary folder; one node with 2 CPUs), and checks, with the digits experiment:
#
#   1. a 2×2 grid (hidden=16,32 × 2 seeds) submitted with -slurm is ONE job array of 4 tasks;
#   2. a rerun while it is queued or running submits nothing;
#   3. one task killed mid-run with scancel (after its first checkpoints) is reported by
#      -collect with its Slurm state and log file, and the table marks its run missing;
#   4. the rerun resubmits only that run, which resumes from its checkpoint (a second session
#      starting where the first stopped), and -wait collects the table;
#   5. that table has the same numbers as a local run of the same grid and seeds (xla:cpu
#      here), wall time aside.
#
# All daemons and job processes are stopped at the end, whatever happens (trap). When Slurm is
# not installed and this user cannot install it, the test is skipped with a message.
#
# Usage: scripts/slurm-test.sh   (uses .bin/gostudy; scripts/setup.sh builds it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
say() { printf '\033[1m==> slurm-test: %s\033[0m\n' "$*" >&2; }
fail() { printf 'slurm-test: FAIL: %s\n' "$*" >&2; exit 1; }
start=$(date +%s)
GOSTUDY=${GOSTUDY:-$ROOT/.bin/gostudy}
[ -x "$GOSTUDY" ] || fail "$GOSTUDY is missing: run scripts/setup.sh"

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "slurm-test: SKIPPED: starting slurmd (and installing Slurm) needs root or passwordless sudo," \
			"and this user ($(id -un)) has neither" >&2
		exit 0
	fi
fi

missing=()
for tool in sbatch squeue scancel sinfo scontrol slurmctld slurmd munged; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing slurm-wlm and munge (missing: ${missing[*]})"
	# Keep apt from starting the system's munge and Slurm services: this test runs its own.
	policy=/usr/sbin/policy-rc.d
	own_policy=false
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 755 "$policy"
		own_policy=true
	fi
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends slurm-wlm munge ||
		{ $own_policy && $SUDO rm -f "$policy"; fail "apt-get install slurm-wlm munge failed"; }
	$own_policy && $SUDO rm -f "$policy"
fi

# Everything of the cluster lives here; the runs folder is in the checkout (a folder the
# "nodes" share, and not /tmp, which -slurm warns about).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gostudy-slurm.XXXXXX")
SHARED=$(mktemp -d "$ROOT/.slurm-test.XXXXXX")
chmod 755 "$WORK" "$SHARED"
export SLURM_CONF=$WORK/slurm.conf

job_pids() { # processes of jobs on our node, as slurmd knows them
	scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }' || true
}
cleanup() {
	local rc=$?
	set +e
	if [ -S "$WORK/munge/munge.sock" ] && [ -f "$WORK/slurmctld.pid" ]; then
		scancel --user="$(id -un)" 2>/dev/null
		for _ in $(seq 1 30); do
			[ -z "$(squeue -h 2>/dev/null)" ] && break
			sleep 1
		done
		pids=$(job_pids)
		[ -n "$pids" ] && $SUDO kill -KILL $pids 2>/dev/null
	fi
	for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munge/munged.pid"; do
		if [ -f "$pidfile" ]; then
			pid=$(cat "$pidfile")
			$SUDO kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 1 50); do
				$SUDO kill -0 "$pid" 2>/dev/null || break
				sleep 0.2
			done
			$SUDO kill -KILL "$pid" 2>/dev/null
		fi
	done
	if [ "$rc" != 0 ]; then
		for log in "$WORK"/slurmctld.log "$WORK"/slurmd.log; do
			[ -f "$log" ] && { echo "--- tail of $log" >&2; tail -n 20 "$log" >&2; }
		done
		for log in "$SHARED"/runs/digits/ablations/*/slurm/logs/*.log; do
			[ -f "$log" ] && { echo "--- $log" >&2; tail -n 8 "$log" >&2; }
		done
	fi
	$SUDO rm -rf "$WORK" "$SHARED"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting munged, slurmctld and slurmd (config and state in $WORK)"
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool"
chmod 700 "$WORK/munge"
# A key of our own: nothing of a system-wide munge is used or touched.
$SUDO dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
$SUDO chmod 400 "$WORK/munge/munge.key"
$SUDO munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.sock" \
	--pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed"
# The socket folder must be reachable by the clients (sbatch runs as this user).
$SUDO chmod 755 "$WORK/munge"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
host=$(hostname -s)
cpus=2
cat >"$SLURM_CONF" <<EOF
ClusterName=gostudytest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.sock
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=gostudy-node NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=gostudy-node Default=YES MaxTime=INFINITE State=UP
EOF
chmod 644 "$SLURM_CONF"
$SUDO env SLURM_CONF="$SLURM_CONF" slurmctld -c -f "$SLURM_CONF"
$SUDO env SLURM_CONF="$SLURM_CONF" slurmd -N gostudy-node -f "$SLURM_CONF"
for i in $(seq 1 60); do
	state=$(sinfo -h -N -o %t 2>/dev/null || true)
	[ "$state" = idle ] && break
	[ "$i" = 60 ] && fail "the node did not come up (sinfo says '${state:-nothing}')"
	sleep 1
done
say "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"

# The grid: small CNNs, long enough per run (640 steps, a few seconds) to be cut mid-run.
RUNS=$SHARED/runs
GRID=(digits -grid hidden=16,32 -seeds 2 -set arch=cnn -set epochs=10 -set train_size=2048 -set val_size=256
	-set test_size=256 -set checkpoint_every=16)
ablate() { timeout 900 "$GOSTUDY" ablate "${GRID[@]}" "$@"; }

say "local reference run of the same grid"
t0=$(date +%s)
ablate -dir "$SHARED/local" -out "$SHARED/local-out" -q >"$SHARED/local.md"
say "local run: $(( $(date +%s) - t0 ))s"

say "submitting the grid with -slurm"
t0=$(date +%s)
job=$(ablate -dir "$RUNS" -slurm -q -slurm-opt=--cpus-per-task=1)
[[ "$job" =~ ^[0-9]+$ ]] || fail "-slurm -q printed '$job', not a job id"
state_dir=$(dirname "$(ls "$RUNS"/digits/ablations/*/slurm/job-"$job".json)")
tasks=$(squeue -h -r -j "$job" -o %K | sort -n | tr '\n' ' ')
[ "$tasks" = "0 1 2 3 " ] || fail "job $job should be one array of tasks 0-3, squeue shows '$tasks'"
say "job array $job: tasks $tasks"

out=$(ablate -dir "$RUNS" -slurm 2>&1) || fail "rerun while running failed: $out"
grep -q "nothing submitted" <<<"$out" || fail "a rerun while the array runs must submit nothing: $out"
[ "$(ls "$state_dir"/job-*.json | wc -l)" = 1 ] || fail "a second job was submitted while the first ran"

victim=3
log=$state_dir/logs/${job}_$victim.log
say "waiting for task ${job}_$victim to pass a checkpoint, then scancel"
run_dir=""
for _ in $(seq 1 1200); do
	[ -z "$run_dir" ] && [ -f "$log" ] && run_dir=$(sed -n 's/.*, run dir //p' "$log" | head -n 1)
	if [ -n "$run_dir" ] && [ -f "$run_dir/record.json" ]; then
		step=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$run_dir/record.json" 2>/dev/null || echo 0)
		[ "$step" -ge 16 ] && break
	fi
	sleep 0.1
done
[ -n "$run_dir" ] || fail "task ${job}_$victim never started (no 'run dir' line in $log)"
scancel "${job}_$victim"
killed_at=$step
say "cancelled task ${job}_$victim at step >= $killed_at (run dir $run_dir)"
for i in $(seq 1 600); do
	[ -z "$(squeue -h -j "$job")" ] && break
	[ "$i" = 600 ] && fail "job $job did not end"
	sleep 1
done
say "array $job ended: $(squeue -h -r -t all -j "$job" -o '%K:%T' | sort -n | tr '\n' ' ')"
rec() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$run_dir/record.json" "$1"; }
status=$(rec 'r["status"]')
step=$(rec 'r["step"]')
[ "$status" != done ] || fail "task ${job}_$victim finished before it was cancelled; the grid is too small for this machine"
[ "$step" -ge "$killed_at" ] || fail "the cancelled run's record went back to step $step (< $killed_at)"
say "the cancelled run stopped with status '$status' at step $step"

set +e
out=$(ablate -dir "$RUNS" -slurm -collect 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "-collect with a missing run should exit 1, got $rc: $out"
grep -q "Slurm task ${job}_$victim CANCELLED; log $log" <<<"$out" ||
	fail "-collect must list the cancelled task with its state and log: $out"
grep -q "| 32 | .* | 1 (1 missing) |" <<<"$out" || fail "the table must mark the missing run: $out"

say "resubmitting (only the cancelled run) and waiting with -wait"
ablate -dir "$RUNS" -slurm -wait -poll 2s -slurm-opt=--cpus-per-task=1 >"$SHARED/slurm.md" 2>"$SHARED/slurm.err" ||
	fail "resubmission: $(cat "$SHARED/slurm.err")"
grep -q "Slurm task ${job}_$victim CANCELLED without finishing it" "$SHARED/slurm.err" ||
	fail "the resubmission should name the cancelled task: $(cat "$SHARED/slurm.err")"
second=$(ls "$state_dir"/job-*.json | grep -v "job-$job.json")
python3 - "$second" <<'EOF' || fail "the second array must hold only run 3"
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
sys.exit(0 if runs == [3] else f"second array runs {runs}")
EOF
sessions=$(rec 'len(r["sessions"])')
resumed=$(rec 'r["sessions"][1]["resumed"] and r["sessions"][1]["from_step"]')
[ "$(rec 'r["status"]')" = done ] || fail "the resubmitted run did not finish"
[ "$sessions" = 2 ] && [ "$resumed" = "$step" ] ||
	fail "the resubmitted run should resume at step $step in a second session, record says sessions=$sessions from_step=$resumed"
say "run $victim resumed at step $resumed and finished"

say "comparing the Slurm table with the local one"
python3 - "$SHARED/local-out/results.csv" "$RUNS"/digits/ablations/*/results.csv <<'EOF' || fail "tables differ"
import csv, sys
def load(p):
    rows = list(csv.DictReader(open(p)))
    for r in rows:
        r.pop("wall_seconds_mean")
    return rows
local, remote = load(sys.argv[1]), load(sys.argv[2])
if local != remote:
    sys.exit(f"local {local}\nslurm {remote}")
print(f"slurm-test: {len(local)} rows, identical but for wall time:", file=sys.stderr)
for r in local:
    print(f"  hidden={r['hidden']}: test acc {r['test_acc_mean']} ± {r['test_acc_std']}, "
          f"loss {r['test_loss_mean']} ± {r['test_loss_std']}", file=sys.stderr)
EOF
backends=$(cat "$RUNS"/digits/*/seed-*/record.json | python3 -c '
import json, sys
text = sys.stdin.read()
dec, i, out = json.JSONDecoder(), 0, set()
while i < len(text):
    r, i = dec.raw_decode(text, i)
    out.add(r["backend"] + " " + r["device"])
    while i < len(text) and text[i].isspace():
        i += 1
print(", ".join(sorted(out)))')
say "backends chosen on the node: $backends"
say "slurm: $(( $(date +%s) - t0 ))s; whole test $(( $(date +%s) - start ))s"
echo "slurm-test: PASS" >&2
