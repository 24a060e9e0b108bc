#!/usr/bin/env bash
# gpu.sh — the GPU benchmark in one command: GoMLX on xla:cuda against PyTorch eager and
# torch.compile on the same card, same models, batches and optimizer, in one run.
#
# Made for a GPU box with no network that has JAX (its CUDA PJRT plugin) and PyTorch + timm
# installed, and the Go side prebuilt on the development machine (no Go toolchain needed):
#
#   bench/gpu-kit.sh                       # on the dev machine: bench/out/gpu-kit.tar.xz
#   bench/gpu.sh                           # on the GPU box, after unpacking the kit into
#                                          # bench/out (see bench/README.md)
#
# It also replays the kernel session the kit recorded (bench/kernel/gpucells) to measure
# cell latency on xla:cuda.
#
# Without an NVIDIA GPU it runs the same flow on the CPU (xla:cpu against PyTorch CPU, small
# models, short rounds), which is how the script itself is tested.
#
# Environment: PYTHON (python with torch, timm and jax; default python3), GPU_MODELS
# (default "cnn swin28 resnet50 swin-t", plus resnext28 when gobench knows it),
# IMPLS (default "gomlx torch-eager torch-compile"), COMPILE=0 to skip torch.compile,
# KERNEL_CELLS=0 to skip the kernel-cell replay, CELLS (its folder, default bench/out/gpucells),
# RUN_TIMEOUT (seconds per measurement, default 180),
# OUT (folder for results; default bench/out/gpu-<date>).
# Results: a Markdown table on stdout and in $OUT/gpu-results.md, raw JSON in $OUT/gpu-results.jsonl.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

BIN=${GOBENCH:-$REPO/bench/out/gobench}
PY=${PYTHON:-python3}
RUN_TIMEOUT=${RUN_TIMEOUT:-180}
IMPLS=${IMPLS:-"gomlx torch-eager torch-compile"}
if [ "${COMPILE:-1}" = 0 ]; then IMPLS=${IMPLS//torch-compile/}; fi
CELLS=${CELLS:-$REPO/bench/out/gpucells}
OUT=${OUT:-$REPO/bench/out/gpu-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
JSONL=$OUT/gpu-results.jsonl
: >"$JSONL"
log() { echo "gpu.sh $(date +%T): $*" >&2; }

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { log "no $BIN and no Go toolchain: run bench/train/build.sh on the dev machine and carry bench/out/gobench"; exit 1; }
  log "building $BIN"
  go build -trimpath -ldflags="-s -w" -o "$BIN" ./bench/train/gobench
fi
known=$("$BIN" -list)

has_gpu() { nvidia-smi -L >/dev/null 2>&1 || [ -d /proc/driver/nvidia ]; }
if has_gpu; then
  MODE=gpu BACKEND=xla:cuda DEVICE=cuda
  DEFAULT_MODELS="cnn resnext28 swin28 resnet50 swin-t"
  GOFLAGS_BENCH=(-warmup 5 -iters 30 -repeats 3 -budget 3s)
  TORCHFLAGS=(--warmup 5 --iters 30 --repeats 3 --budget 3)
  # shellcheck source=bench/gpu-env.sh
  . "$REPO/bench/gpu-env.sh"
  GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n1 || echo unknown)
  MACHINE="GPU: $GPU_NAME; host: $(nproc) cores"
else
  MODE=cpu BACKEND=xla:cpu DEVICE=cpu
  DEFAULT_MODELS="cnn swin28"
  GOFLAGS_BENCH=(-warmup 2 -iters 5 -repeats 2 -budget 5s)
  TORCHFLAGS=(--warmup 2 --iters 5 --repeats 2 --budget 5)
  log "no NVIDIA GPU: running the CPU fallback (xla:cpu against PyTorch CPU)"
  MACHINE="no GPU (CPU fallback): $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores"
fi
MODELS=${GPU_MODELS:-$DEFAULT_MODELS}

# run IMPL BACKEND MODEL CMD...: one measurement with a time limit; a failure or a
# timeout becomes an error row of the table.
run() {
  local impl=$1 backend=$2 model=$3; shift 3
  log "$model: $impl on $backend"
  local line
  line=$(timeout "$RUN_TIMEOUT" "$@" 2>>"$OUT/stderr.log" | tail -n1) || true
  if [ "${line:0:1}" = "{" ]; then
    echo "$line" | tee -a "$JSONL"
  else
    log "$model: $impl failed or timed out after ${RUN_TIMEOUT}s (see $OUT/stderr.log)"
    printf '{"impl":"%s","backend":"%s","model":"%s","error":"failed or timed out (limit %ss); see stderr.log"}\n' \
      "$impl" "$backend" "$model" "$RUN_TIMEOUT" | tee -a "$JSONL"
  fi
}

VERSIONS="$("$PY" -c 'import torch, timm; print(f"PyTorch {torch.__version__}, timm {timm.__version__}")' 2>/dev/null || echo 'PyTorch unavailable')"
if [ $MODE = gpu ]; then
  VERSIONS+=", CUDA plugin $(cat "$GOSTUDY_PLUGINS/pjrt_c_api_cuda_plugin.so.wheel" 2>/dev/null || echo unrecorded)"
fi
# report writes the table so far to $OUT/gpu-results.md: a run cut short keeps its rows.
report() {
  "$PY" bench/train/report.py "$JSONL" --cells "$OUT/kernel-cells.json" \
    --title "$( [ $MODE = gpu ] && echo GPU || echo 'GPU script, CPU fallback') training throughput, $(date -u +%Y-%m-%d)" \
    --meta "machine: $MACHINE" \
    --meta "versions: $VERSIONS" \
    --meta "step: forward + softmax cross-entropy + backward + Adam(lr 1e-3), float32 (TF32 matmuls/convs on GPU in both), fixed random batch on the device" \
    >"$OUT/gpu-results.md"
}

has_impl() { grep -qw -- "$1" <<<"$IMPLS"; }
# GoMLX and PyTorch eager first for every model, torch.compile (slow to compile) after: a run
# cut short still has the comparison the goal is about.
for m in $MODELS; do
  if ! grep -qw -- "$m" <<<"$known"; then log "skip $m: gobench does not know it (have: $known)"; continue; fi
  if has_impl gomlx; then run gomlx "$BACKEND" "$m" "$BIN" -model "$m" -backend "$BACKEND" "${GOFLAGS_BENCH[@]}"; fi
  if has_impl torch-eager; then run torch-eager "$DEVICE" "$m" "$PY" bench/train/torch_bench.py --model "$m" --device "$DEVICE" "${TORCHFLAGS[@]}"; fi
  report || true
done
if has_impl torch-compile; then
  for m in $MODELS; do
    grep -qw -- "$m" <<<"$known" || continue
    run torch-compile "$DEVICE" "$m" "$PY" bench/train/torch_bench.py --model "$m" --device "$DEVICE" --compile "${TORCHFLAGS[@]}"
    report || true
  done
fi

# Kernel cell latency on this backend: replay the cells bench/kernel/gpucells recorded on the
# dev machine (their compilation was timed there) in a fresh runner here.
if [ "${KERNEL_CELLS:-1}" = 1 ]; then
  if [ -x "$CELLS/gpucells" ] && [ -f "$CELLS/manifest.json" ]; then
    log "kernel cells: replaying $CELLS on $BACKEND"
    if line=$(GOMLX_BACKEND=$BACKEND timeout "$RUN_TIMEOUT" "$CELLS/gpucells" replay -dir "$CELLS" 2>>"$OUT/stderr.log" | tail -n1) && [ "${line:0:1}" = "{" ]; then
      echo "$line" | tee "$OUT/kernel-cells.json"
    else
      log "kernel cells: replay failed (see $OUT/stderr.log)"
    fi
  else
    log "kernel cells: no recorded session in $CELLS (bench/gpu-kit.sh records one)"
  fi
fi
report
cat "$OUT/gpu-results.md"
log "results in $OUT"
