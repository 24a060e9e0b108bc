//go:build !(linux && cgo && (amd64 || arm64) && !noxla)

package backend

// EnvMallocTuning set to "1" tunes glibc's malloc for large XLA CPU programs (Linux with
// glibc only; see malloc_linux.go).
const EnvMallocTuning = "GOSTUDY_MALLOC_TUNING"

// tuneMallocForXLACPU does nothing where glibc's malloc is not in use.
func tuneMallocForXLACPU() {}

// largeAllocIsMapped is unknown where glibc's malloc is not in use.
func largeAllocIsMapped() (mapped, known bool) { return false, false }
