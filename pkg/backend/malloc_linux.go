//go:build linux && cgo && (amd64 || arm64) && !noxla

package backend

/*
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// gostudy_malloc_tuned: 1 applied, 0 glibc refused, -1 skipped (user's choice or no glibc).
static int gostudy_malloc_tuned = -1;

// gostudy_tune_malloc runs as an ELF constructor, when the binary (or the shared object
// holding this package) is loaded: before the Go runtime starts any thread, so that every
// later thread shares glibc's main arena (see malloc_linux.go).
__attribute__((constructor)) static void gostudy_tune_malloc(void) {
#ifdef __GLIBC__
	const char *opt = getenv("GOSTUDY_MALLOC_TUNING");
	if (opt == NULL || strcmp(opt, "1") != 0 || getenv("GLIBC_TUNABLES") != NULL) {
		return;
	}
	int ok = mallopt(M_ARENA_MAX, 1);
	ok &= mallopt(M_MMAP_MAX, 0);
	ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30);
	gostudy_malloc_tuned = ok;
#endif
}

static int gostudy_malloc_status(void) { return gostudy_malloc_tuned; }

// gostudy_large_alloc_is_mapped reports whether a fresh 100 MB block comes from mmap.
static int gostudy_large_alloc_is_mapped(void) {
#ifdef __GLIBC__
	size_t before = mallinfo2().hblks;
	// volatile and a write keep the compiler from eliding the malloc/free pair.
	volatile char *p = malloc(100u << 20);
	p[0] = 1;
	size_t after = mallinfo2().hblks;
	free((void *)p);
	return after > before;
#else
	return -1;
#endif
}
*/
import "C"

import (
	"fmt"
	"sync"
)

// EnvMallocTuning set to "1" applies, at load time, glibc malloc settings that suit large
// XLA CPU programs (one arena, no mmap, no trimming); unset or any other value leaves glibc
// alone, the default.
const EnvMallocTuning = "GOSTUDY_MALLOC_TUNING"

var mallocOnce sync.Once

// tuneMallocForXLACPU reports, once, if glibc refused the malloc settings asked for with
// GOSTUDY_MALLOC_TUNING=1; the settings themselves are applied when the program is loaded.
//
// Why it exists: each execution of an XLA CPU program allocates its scratch memory in one
// block (265 MB for a training step of nn.SwinTiny28 at batch 128) and frees it at the end.
// glibc serves blocks above 32 MB with a fresh mmap, so every step page-faults the whole
// block in (zeroing it) and unmaps it again: perf showed 28% of such a step's CPU time in the
// kernel. With a single arena, no mmap and no trimming the block is reused from the heap.
//
// Why it is off by default: the single arena serialises the many small allocations of XLA's
// worker threads. On 2 cores, lesson 3's bottleneck network (batch 32) trained at 31–33 ms
// per step with it against 22–26 ms without (three alternating runs each), while the
// batch-128 bench models gained 0–10%, within the machine's noise. The lessons' small
// batches are the common case.
//
// Why at load time: a thread that has allocated keeps its own arena, and arenas other than
// the main one cannot hold blocks above 64 MB (they fall back to mmap), so the limit of one
// arena must be set before the Go runtime starts threads. It is skipped when GLIBC_TUNABLES
// is set (the user tunes glibc).
func tuneMallocForXLACPU() {
	mallocOnce.Do(func() {
		if C.gostudy_malloc_status() == 0 {
			fmt.Fprintln(logOutput, "gostudy: glibc refused the malloc settings for xla:cpu; steps may be slower")
		}
	})
}

// largeAllocIsMapped reports whether glibc serves a 100 MB malloc with mmap (its default)
// rather than from the heap; the tests use it to see that the tuning took effect.
func largeAllocIsMapped() (mapped, known bool) {
	r := C.gostudy_large_alloc_is_mapped()
	return r == 1, r >= 0
}
