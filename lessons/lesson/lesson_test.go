package lesson

import "testing"

func TestCurrent(t *testing.T) {
	for _, c := range []struct {
		env  string
		want Budget
		ok   bool
	}{{"", Full, true}, {"full", Full, true}, {"test", Test, true}, {" test ", Test, true}, {"tset", "", false}} {
		t.Setenv(EnvVar, c.env)
		got, err := Current()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("GOSTUDY_BUDGET=%q: got (%q, %v), want %q ok=%v", c.env, got, err, c.want, c.ok)
		}
	}
}
