package checkout

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeMod(t *testing.T, dir, module string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("// a comment\nmodule "+module+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	writeMod(t, repo, ModulePath)
	// A nested module of another path (a user's own project inside the checkout) is passed over.
	nested := filepath.Join(repo, "notebooks", "mine")
	writeMod(t, nested, "example.com/mine")
	deep := filepath.Join(nested, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Find(deep)
	if err != nil || got != repo {
		t.Fatalf("Find(%s) = %q, %v; want %q", deep, got, err, repo)
	}
	// A module whose path only starts with gostudy's is another module.
	other := filepath.Join(tmp, "other")
	writeMod(t, other, ModulePath+"-fork")
	if got, err := Find(other); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(%s) = %q, %v; want ErrNotFound", other, got, err)
	}
	// The first start that is inside a checkout wins; empty starts are skipped.
	if got, err := Find("", other, deep); err != nil || got != repo {
		t.Errorf("Find(\"\", other, deep) = %q, %v", got, err)
	}
	// A quoted module path counts.
	quoted := filepath.Join(tmp, "quoted")
	writeMod(t, quoted, `"`+ModulePath+`"`)
	if !IsRoot(quoted) {
		t.Errorf("quoted module path not recognised")
	}
}

// TestRootOfThisCheckout: the tests run inside the checkout, so Root is the folder two levels
// up from this package, whatever the working directory.
func TestRootOfThisCheckout(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Dir(filepath.Dir(wd))
	got, err := Root()
	if err != nil || got != want {
		t.Fatalf("Root() = %q, %v; want %q", got, err, want)
	}
	// From a folder outside any checkout the source location still finds it.
	t.Chdir(t.TempDir())
	got, err = Root()
	if err != nil || got != want {
		t.Fatalf("Root() outside the checkout = %q, %v; want %q", got, err, want)
	}
	p, err := Path("runs/x")
	if err != nil || p != filepath.Join(want, "runs", "x") {
		t.Errorf("Path = %q, %v", p, err)
	}
}
