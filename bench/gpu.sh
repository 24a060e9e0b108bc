#!/usr/bin/env bash
# gpu.sh — the GPU benchmark in one command: GoMLX on xla:cuda against PyTorch eager and
# torch.compile on the same card, same models, batches and optimizer, in one run.
#
# Made for a GPU box with no network that has JAX (its CUDA PJRT plugin) and PyTorch + timm
# installed, and the Go side prebuilt on the development machine (no Go toolchain needed):
#
#   bench/train/build.sh                   # on the dev machine: bench/out/gobench (x86-64)
#   bench/gpu.sh                           # on the GPU box (carry bench/out/gobench there)
#
# Without an NVIDIA GPU it runs the same flow on the CPU (xla:cpu against PyTorch CPU, small
# models, short rounds), which is how the script itself is tested.
#
# Environment: PYTHON (python with torch, timm and jax; default python3), GPU_MODELS
# (default "cnn swin28 resnet50 swin-t", plus resnext28 when gobench knows it),
# COMPILE=0 to skip torch.compile, RUN_TIMEOUT (seconds per measurement, default 180),
# OUT (folder for results; default bench/out/gpu-<date>).
# Results: a Markdown table on stdout and in $OUT/gpu-results.md, raw JSON in $OUT/gpu-results.jsonl.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

BIN=${GOBENCH:-$REPO/bench/out/gobench}
PY=${PYTHON:-python3}
RUN_TIMEOUT=${RUN_TIMEOUT:-180}
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
  export GOSTUDY_PLUGINS=$REPO/plugins
  mkdir -p "$GOSTUDY_PLUGINS"
  if [ ! -e "$GOSTUDY_PLUGINS/pjrt_c_api_cuda_plugin.so" ]; then
    # Link the CUDA plugin of the JAX that $PY sees (no download); writes plugins/cuda.env.
    scripts/install-plugins.sh --dir "$GOSTUDY_PLUGINS" --no-cpu --cuda-from-jax "$PY" >&2
  fi
  # shellcheck disable=SC1091
  [ -f "$GOSTUDY_PLUGINS/cuda.env" ] && . "$GOSTUDY_PLUGINS/cuda.env"
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
  "$PY" bench/train/report.py "$JSONL" \
    --title "$( [ $MODE = gpu ] && echo GPU || echo 'GPU script, CPU fallback') training throughput, $(date -u +%Y-%m-%d)" \
    --meta "machine: $MACHINE" \
    --meta "versions: $VERSIONS" \
    --meta "step: forward + softmax cross-entropy + backward + Adam(lr 1e-3), float32 (TF32 matmuls/convs on GPU in both), fixed random batch on the device" \
    >"$OUT/gpu-results.md"
}

for m in $MODELS; do
  if ! grep -qw -- "$m" <<<"$known"; then log "skip $m: gobench does not know it (have: $known)"; continue; fi
  run gomlx "$BACKEND" "$m" "$BIN" -model "$m" -backend "$BACKEND" "${GOFLAGS_BENCH[@]}"
  run torch-eager "$DEVICE" "$m" "$PY" bench/train/torch_bench.py --model "$m" --device "$DEVICE" "${TORCHFLAGS[@]}"
  if [ "${COMPILE:-1}" = 1 ]; then
    run torch-compile "$DEVICE" "$m" "$PY" bench/train/torch_bench.py --model "$m" --device "$DEVICE" --compile "${TORCHFLAGS[@]}"
  fi
  report || true
done
report
cat "$OUT/gpu-results.md"
log "results in $OUT"
