#!/usr/bin/env bash
# build.sh — build the Go side of the benchmarks as one binary, bench/out/gobench, for the
# GPU box (linux/amd64, stripped; it loads the PJRT plugins at run time, so it needs no Go
# toolchain and no network there). It must stay under the 64 MiB a device run can carry.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
mkdir -p bench/out
GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o bench/out/gobench ./bench/train/gobench
size=$(stat -c %s bench/out/gobench)
echo "bench/out/gobench: $((size / 1024 / 1024)) MiB"
[ "$size" -lt $((60 * 1024 * 1024)) ] || { echo "gobench is over 60 MiB: too big to carry" >&2; exit 1; }
