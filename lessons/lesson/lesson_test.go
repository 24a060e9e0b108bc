package lesson

import (
	"testing"

	"github.com/gostudy/gostudy/pkg/backend"
)

func TestCurrent(t *testing.T) {
	def := DefaultBudget()
	for _, c := range []struct {
		env  string
		want Budget
		ok   bool
	}{{"", def, true}, {"full", Full, true}, {"test", Test, true}, {" quick ", Quick, true}, {"tset", "", false}, {"Full", "", false}} {
		t.Setenv(EnvVar, c.env)
		got, err := Current()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("GOSTUDY_BUDGET=%q: got (%q, %v), want %q ok=%v", c.env, got, err, c.want, c.ok)
		}
	}
}

// TestDefaultBudget: quick unless the default backend is the GPU one.
func TestDefaultBudget(t *testing.T) {
	want := Quick
	if _, err := backend.Default(); err == nil && backend.Active() == backend.CUDA {
		want = Full
	}
	if got := DefaultBudget(); got != want {
		t.Errorf("DefaultBudget() = %q on %s, want %q", got, backend.Active(), want)
	}
}

func TestPick(t *testing.T) {
	for b, want := range map[Budget]int{Test: 1, Quick: 2, Full: 3} {
		if got := Pick(b, 1, 2, 3); got != want {
			t.Errorf("Pick(%s) = %d, want %d", b, got, want)
		}
	}
	if len(Budgets) != 3 || Budgets[0] != Test || Budgets[2] != Full {
		t.Errorf("Budgets %v", Budgets)
	}
}
