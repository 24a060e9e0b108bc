package lesson

import (
	"strings"
	"testing"
)

// A run with no full training batch is refused before it trains, for both data configs.
func TestValidateRunRefusesRunsWithoutAFullBatch(t *testing.T) {
	m := MNIST{TrainSize: 100, ValSize: 250, TestSize: 250}
	c := Classification{Dataset: DatasetMNIST, MNIST: m}
	for _, tc := range []struct{ batch, epochs int }{{0, 1}, {25, 0}, {200, 1}} {
		for name, err := range map[string]error{"mnist": m.ValidateRun(tc.batch, tc.epochs),
			"classification": c.ValidateRun(tc.batch, tc.epochs)} {
			if err == nil || !strings.Contains(err.Error(), "need at least one full training batch") {
				t.Errorf("%s batch %d epochs %d: err %v, want the full-batch error", name, tc.batch, tc.epochs, err)
			}
		}
	}
	if err := m.ValidateRun(25, 1); err != nil && strings.Contains(err.Error(), "full training batch") {
		t.Errorf("batch 25 of 100 images refused: %v", err)
	}
}
