package compiler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Plugins must be linked externally: `go tool link -buildmode=plugin` writes a Go object and
// hands it to the C compiler driver (-extld, usually gcc) to make the shared object. Before
// that, the Go linker runs the C driver up to four more times on a trivial C file, to learn
// which flags it accepts, on every link. For a trivial cell those probes and the BFD linker
// were about 40% of the link (0.40 s → 0.24 s wall on the 2-core dev VM, `go tool link`
// of a fmt-only plugin, 8 runs each). The wrapper below answers repeated probes from a
// cache and links with a faster linker (mold, lld or gold) when the C driver has one that
// works for shared objects.

// linkerWrapper is the shell script given to `go tool link -extld`. Probe answers depend only
// on the driver, the flags and the linker chosen, all fixed for one wrapper, so they are
// cached by their arguments (minus the temporary file names) in the probes folder.
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
key=$(printf '%%s\n' "$@" | grep -v -e '/trivial\.c$' -e '/a\.out$' | cksum | tr ' ' _)
if [ -f "$probes/$key.rc" ]; then
	cat "$probes/$key.out"
	exit "$(cat "$probes/$key.rc")"
fi
mkdir -p "$probes"
"$real" $fast "$@" >"$probes/$key.$$" 2>&1
rc=$?
cat "$probes/$key.$$"
mv -f "$probes/$key.$$" "$probes/$key.out"
echo $rc >"$probes/$key.rc.$$" && mv -f "$probes/$key.rc.$$" "$probes/$key.rc"
exit $rc
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
	text := fmt.Sprintf(linkerWrapper, shellQuote(cc), shellQuote(fast), shellQuote(filepath.Join(dir, "probes")))
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
	cmd := exec.CommandContext(ctx, cc, flag, "-shared", "-fPIC", "-o", filepath.Join(work, "t.so"), src)
	cmd.Env = env
	return cmd.Run() == nil
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
