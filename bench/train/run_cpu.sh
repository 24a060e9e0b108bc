#!/usr/bin/env bash
# run_cpu.sh — CPU training throughput of the lesson models: GoMLX on xla:cpu and on the
# pure-Go backend against PyTorch eager on the same model, batch and optimizer, in one run.
# Prints a Markdown table and appends it, dated, with the machine and versions, to
# bench/README.md.
#
#   bench/train/run_cpu.sh                 # all CPU models
#   MODELS="cnn swin28" bench/train/run_cpu.sh
#   NO_README=1 bench/train/run_cpu.sh     # print only
#   QUIET_LOAD=1.0 QUIET_WAIT=1800         # before each model, wait (at most QUIET_WAIT s)
#                                          # until the 1-min load average is below QUIET_LOAD
#
# Needs: the CPU plugin (scripts/install-plugins.sh) and the reference venv .venv-ref
# (PyTorch + timm; scripts/setup-ref.sh). The machine should be quiet: the load average is
# recorded before and after, and a busy machine makes every column slower, unevenly.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

MODELS=${MODELS:-"cnn cnn-reducemax cnn-strided resnext28 swin28"}
PY=${PYTHON:-$REPO/.venv-ref/bin/python}
THREADS=${THREADS:-$(nproc)}
OUT=$REPO/bench/out/cpu-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
JSONL=$OUT/results.jsonl
BIN=$REPO/bench/out/gobench

echo "building gobench..." >&2
go build -o "$BIN" ./bench/train/gobench
known=$("$BIN" -list)

load() { cut -d' ' -f1-3 /proc/loadavg; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# wait_quiet: on a shared machine, start each model's measurements when the others are idle.
wait_quiet() {
  local waited=0
  while awk "BEGIN{exit !($(load1) >= ${QUIET_LOAD:-1.0})}" && [ $waited -lt "${QUIET_WAIT:-1800}" ]; do
    sleep 15; waited=$((waited + 15))
  done
}
LOAD_BEFORE=$(load)
: >"$OUT/loads.tsv"
for m in $MODELS; do
  if ! grep -qw -- "$m" <<<"$known"; then
    echo "skip $m: gobench does not know it (have: $known)" >&2; continue
  fi
  wait_quiet
  start_load=$(load1)
  echo "== $m (load $start_load)" >&2
  # PyTorch first, then GoMLX: alternating per model spreads any drift in machine load.
  "$PY" bench/train/torch_bench.py --model "$m" --device cpu --threads "$THREADS" | tee -a "$JSONL" || true
  "$BIN" -model "$m" -backend xla:cpu 2>>"$OUT/stderr.log" | tee -a "$JSONL" || true
  # The pure-Go backend is one to two orders slower: one shorter round.
  "$BIN" -model "$m" -backend go -warmup 2 -repeats 1 -budget 15s 2>>"$OUT/stderr.log" | tee -a "$JSONL" || true
  printf '%s\t%s\t%s\n' "$m" "$start_load" "$(load1)" >>"$OUT/loads.tsv"
done
LOAD_AFTER=$(load)

CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
PLUGIN=$(cat plugins/pjrt_c_api_cpu_plugin.so.wheel 2>/dev/null | cut -d' ' -f1 || true)
VERSIONS="$(go version | cut -d' ' -f3), GoMLX $(go list -m -f '{{.Version}}' github.com/gomlx/gomlx), \
go-xla $(go list -m -f '{{.Version}}' github.com/gomlx/go-xla), CPU plugin ${PLUGIN:-unrecorded}, \
$("$PY" -c 'import torch, timm; print(f"PyTorch {torch.__version__}, timm {timm.__version__}")')"

args=(--title "CPU training throughput, $(date -u +%Y-%m-%d) ($(hostname))"
  --meta "machine: $CPU_MODEL, $(nproc) cores; PyTorch threads: $THREADS"
  --meta "load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER; per model in the last column"
  --loads "$OUT/loads.tsv"
  --meta "versions: $VERSIONS"
  --meta "step: forward + softmax cross-entropy + backward + Adam(lr 1e-3), float32, fixed random batch; raw JSON in ${OUT#"$REPO"/}")
[ "${NO_README:-}" = 1 ] || args+=(--readme "$REPO/bench/README.md" --section cpu)
"$PY" bench/train/report.py "$JSONL" "${args[@]}" | tee "$OUT/table.md"
