#!/usr/bin/env bash
# gpu-check.sh — on a GPU machine without Go: run the prebuilt tests of bench/gpu-kit.sh on
# xla:cuda, to show the library and the lessons run there.
#
#   pkg/nn       every block against its timm fixture (GOSTUDY_TEST_BACKENDS=xla:cuda), with
#                TF32 off (go-xla's tf32=false for dot products, NVIDIA_TF32_OVERRIDE=0 for
#                cuDNN), so float32 tolerances apply
#   cmd/gostudy  every lesson model kind trained through the experiment registry on xla:cuda
#                (the automatic choice), exported to ONNX and safetensors, ONNX run with the
#                box's onnxruntime against GoMLX
#
# Environment: PYTHON (with onnxruntime and jax; default python3), KIT (default
# bench/out/kit), CHECK_TIMEOUT (seconds per test binary, default 240), OUT (log folder).
# Exit status: 0 when every binary passed.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PY=${PYTHON:-python3}
KIT=${KIT:-$REPO/bench/out/kit}
OUT=${OUT:-$REPO/bench/out/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
nvidia-smi -L >/dev/null 2>&1 || { echo "gpu-check.sh: no NVIDIA GPU here" >&2; exit 1; }
# shellcheck source=bench/gpu-env.sh
. "$REPO/bench/gpu-env.sh"
export GOSTUDY_MNIST_DIR=${GOSTUDY_MNIST_DIR:-$REPO/bench/out/mnist}
status=0
# check NAME DIR COMMAND...: one test binary, run in its package's folder (it reads testdata/
# there), log in $OUT/NAME.log.
check() {
  local name=$1 dir=$2; shift 2
  echo "gpu-check: $name" >&2
  local t0=$SECONDS
  if (cd "$dir" && timeout "${CHECK_TIMEOUT:-240}" "$@") >"$OUT/$name.log" 2>&1; then
    echo "gpu-check: $name passed in $((SECONDS - t0)) s" >&2
  else
    echo "gpu-check: $name FAILED after $((SECONDS - t0)) s; end of its log:" >&2
    grep -E -- '^(---|FAIL|panic)|_test.go:[0-9]+:' "$OUT/$name.log" | head -n 40 >&2
    tail -n 5 "$OUT/$name.log" >&2
    status=1
  fi
  # Tests and subtests (one per backend) by outcome.
  grep -E -- '^ *--- (PASS|FAIL|SKIP)' "$OUT/$name.log" | awk '{print $2}' | sort | uniq -c >&2 || true
}
# Autotuning off: it would make compiling each of the tests' many small graphs slow, and it
# picks among kernels of equal results.
check nn pkg/nn env GOSTUDY_TEST_BACKENDS=xla:cuda NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS=--xla_gpu_autotune_level=0 "$KIT/nn.test" -test.v -test.count=1
check lessons cmd/gostudy env GOSTUDY_PYTHON="$PY" GOMLX_BACKEND=xla:cuda,tf32=false NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS=--xla_gpu_autotune_level=0 \
  "$KIT/gostudy.test" -test.v -test.count=1 -test.run 'TestLessonModelsExport'
exit $status
