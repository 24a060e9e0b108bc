package experiment

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/backend/backendtest"
	"github.com/gostudy/gostudy/pkg/display"
)

// nullPublisher accepts every message: the bar's own state is what the test reads.
type nullPublisher struct{}

func (nullPublisher) Publish(display.Message) error { return nil }
func (nullPublisher) Input(string, bool) (string, error) {
	return "", errors.New("no input in tests")
}

func TestBarProgressCountsSkippedRunsAsDoneWork(t *testing.T) {
	b := backendtest.Go(t)
	e := newBlobExperiment("blobs")
	cfg := blobDefaults()
	dir := t.TempDir()
	// Two runs of the same config and seed: the second finds the first done and skips it,
	// as a sweep does when a run is shared with an earlier cell. 48 steps each.
	bar := display.NewProgressWith(display.ProgressOptions{Total: 2 * 48, Unit: "step", Publisher: nullPublisher{}})
	events := 0
	progress := BarProgress(bar, func(Event) { events++ })
	for range 2 {
		if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 1, Backend: b, Progress: progress}); err != nil {
			t.Fatal(err)
		}
	}
	bar.Done()
	if bar.Count() != 96 || bar.State() != display.Done {
		t.Errorf("bar at %d (%s) after a trained and a skipped run, want 96 (done)", bar.Count(), bar.State())
	}
	if txt := bar.String(); !strings.Contains(txt, "48 already done") {
		t.Errorf("bar %q does not say which steps were skipped", txt)
	}
	if events < 48+1 {
		t.Errorf("next saw %d events, want every one", events)
	}
}
