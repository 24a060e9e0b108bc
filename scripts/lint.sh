#!/usr/bin/env bash
# lint.sh — the static checks both test tiers run first: every tracked Go file gofmt-formatted,
# go vet clean, and go.mod/go.sum exactly what `go mod tidy` would write.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
unformatted=$(git ls-files -z -- '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go mod tidy -diff
