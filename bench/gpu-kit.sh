#!/usr/bin/env bash
# gpu-kit.sh — on the development machine: pack everything a GPU box without Go or network
# needs for bench/gpu.sh and scripts/gpu-check.sh into one file, bench/out/gpu-kit.tar.xz
# (a device run carries at most 64 MiB):
#
#   bench/out/gobench          the training benchmark (bench/train/build.sh)
#   bench/out/gpucells/        the kernel-cell session, recorded here through the kernel's
#                              engine (compile times measured here), with its runner and the
#                              gpucells replayer
#   bench/out/kit/nn.test      pkg/nn's tests (blocks against timm fixtures)
#   bench/out/kit/gostudy.test cmd/gostudy's -tags onnx tests (every lesson model kind trained
#                              through the registry, exported, ONNX checked)
#   bench/out/mnist/           the four MNIST files (from the Go module cache)
#
# On the GPU box, from the repository root (python's tarfile: xz may not be installed):
#   python3 -c "import tarfile; tarfile.open('bench/out/gpu-kit.tar.xz').extractall('bench/out')"
#   scripts/gpu-check.sh; bench/gpu.sh
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUTDIR=$REPO/bench/out
FLAGS=(-trimpath -ldflags=-s\ -w)

bench/train/build.sh
mkdir -p "$OUTDIR/kit" "$OUTDIR/mnist"
go test -c "${FLAGS[@]}" -o "$OUTDIR/kit/nn.test" ./pkg/nn
go test -c -tags onnx "${FLAGS[@]}" -o "$OUTDIR/kit/gostudy.test" ./cmd/gostudy
go build -o "$OUTDIR/gpucells/gpucells" ./bench/kernel/gpucells
"$OUTDIR/gpucells/gpucells" record -repo "$REPO" -out "$OUTDIR/gpucells" >&2
# The module cache's copy (datasets/mnist reads the same files there).
mnist=$(ls -d "$(go env GOMODCACHE)"/github.com/petar/\!go\!m\!n\!i\!s\!t@*/data | tail -n1)
cp "$mnist"/*.gz "$OUTDIR/mnist/"
tar -C "$OUTDIR" -cJf "$OUTDIR/gpu-kit.tar.xz" gobench gpucells kit mnist
size=$(stat -c %s "$OUTDIR/gpu-kit.tar.xz")
echo "bench/out/gpu-kit.tar.xz: $((size / 1024 / 1024)) MiB" >&2
[ "$size" -lt $((56 * 1024 * 1024)) ] || { echo "gpu-kit.tar.xz is too big to carry with the tree" >&2; exit 1; }
