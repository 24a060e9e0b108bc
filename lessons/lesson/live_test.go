package lesson

import "testing"

// TestScoreNote: a segmentation run's progress note shows its Dice, not an accuracy it does not
// have (it read "validation accuracy 0.0000" before).
func TestScoreNote(t *testing.T) {
	for _, c := range []struct {
		metrics map[string]float64
		want    string
	}{
		{map[string]float64{"acc": 0.98125, "loss": 0.1}, ", validation accuracy 0.9812"},
		{map[string]float64{"dice": 0.74371, "loss": 0.3}, ", validation Dice 0.7437"},
		{map[string]float64{"loss": 0.3}, ""},
	} {
		if got := scoreNote("validation", c.metrics); got != c.want {
			t.Errorf("scoreNote(%v) = %q, want %q", c.metrics, got, c.want)
		}
	}
}
