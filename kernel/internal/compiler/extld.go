package compiler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/reaper"
)

// Plugins must be linked externally: `go tool link -buildmode=plugin` writes a Go object and
// hands it to the C compiler driver (-extld, usually gcc) to make the shared object. Before
// that, the Go linker runs the C driver up to four more times on a trivial C file, to learn
// which flags it accepts, on every link. For a trivial cell those probes and the BFD linker
// were about 40% of the link (0.40 s → 0.24 s wall on the 2-core dev VM, `go tool link`
// of a fmt-only plugin, 8 runs each). The wrapper below answers repeated probes from a
// cache and links with a faster linker (mold, lld or gold) when the C driver has one that
// works for shared objects.

// linkerWrapper is the shell script given to `go tool link -extld`. A probe's answer depends
// only on the driver, the linker chosen and the flags (the temporary file names aside), all
// fixed for one wrapper, so answers are kept one a line in the probes file: "0 flags..." for
// a supported flag set, "1 flags..." for one the driver rejects. The Go linker only looks at
// the exit status and for "unrecognized"/"unknown" in the output, so a cached answer is an
// exit status alone. Only shell builtins run for a cached probe: with one process per probe
// instead of five, the probes cost about a millisecond each.
const linkerWrapper = `#!/bin/sh
# Written by the gostudy kernel: the C linker that its plugin links use (go tool link -extld).
# Probes of flag support (links of trivial.c) are answered from $probes after the first time.
real=%[1]s
fast=%[2]s
probes=%[3]s
for last do :; done
case $last in
*/trivial.c) ;;
*) exec "$real" $fast "$@" ;;
esac
key=
for a do
	case $a in
	*/trivial.c | */a.out) ;;
	*) key="$key $a" ;;
	esac
done
if [ -f "$probes" ]; then
	while IFS= read -r line; do
		case $line in
		"0$key") exit 0 ;;
		"1$key") exit 1 ;;
		esac
	done <"$probes"
fi
out=$("$real" $fast "$@" 2>&1)
ok=$?
case $out in
*unrecognized* | *unknown*) ok=1 ;;
esac
[ $ok -eq 0 ] || ok=1
printf '%%s\n' "$ok$key" >>"$probes"
printf '%%s' "$out"
exit $ok
`

// WriteLinkerWrapper writes the -extld wrapper for the C driver cc into dir and returns its
// path. It tries the faster linkers the driver knows (-fuse-ld=mold, lld, gold) on a small
// shared object and keeps the first that works; with none, links use the driver's default.
func WriteLinkerWrapper(ctx context.Context, dir, cc string, env []string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("linker wrapper: %w", err)
	}
	fast := ""
	for _, ld := range []string{"mold", "lld", "gold"} {
		if sharedLinkWorks(ctx, dir, cc, "-fuse-ld="+ld, env) {
			fast = "-fuse-ld=" + ld
			break
		}
	}
	path := filepath.Join(dir, "extld")
	text := fmt.Sprintf(linkerWrapper, shellQuote(cc), shellQuote(fast), shellQuote(filepath.Join(dir, "linker-probes.txt")))
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(text), 0o755); err != nil {
		return "", fmt.Errorf("linker wrapper: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("linker wrapper: %w", err)
	}
	return path, nil
}

// sharedLinkWorks reports whether cc links a position-independent shared object with flag.
func sharedLinkWorks(ctx context.Context, dir, cc, flag string, env []string) bool {
	work, err := os.MkdirTemp(dir, "ldtest-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "t.c")
	if err := os.WriteFile(src, []byte("int gostudy_probe(void) { return 1; }\n"), 0o644); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := reaper.CommandContext(ctx, cc, flag, "-shared", "-fPIC", "-o", filepath.Join(work, "t.so"), src)
	cmd.Env = env
	return reaper.Run(cmd) == nil
}

// shellQuote quotes s for a POSIX shell; "" stays an empty word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// UseLinker makes plugin links call extld (see WriteLinkerWrapper) as their C linker.
func (t *Toolchain) UseLinker(extld string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, a := range t.link {
		if strings.HasPrefix(a, "-extld=") {
			t.link[i] = "-extld=" + extld
			return
		}
	}
	t.link = append(t.link, "-extld="+extld)
}

// CC returns the C compiler driver the plugin links use (go build's -extld).
func (t *Toolchain) CC() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.link {
		if v, ok := strings.CutPrefix(a, "-extld="); ok {
			return v
		}
	}
	return "gcc"
}
