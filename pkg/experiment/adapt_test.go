package experiment

import (
	"context"
	"errors"
	"iter"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
)

// adaptiveBlobs is the blob experiment with data that adapts to the model: from epoch 1 on, an
// epoch trains only on the examples whose true class the model gives less than 0.9. It records
// what Adapt saw: per epoch, the model's mean probability of the true class.
type adaptiveBlobs struct {
	mu   sync.Mutex
	seen map[int][]float64 // epoch → the mean true-class probability at each Adapt call
	kept map[int][]int     // epoch → the examples kept
}

func newAdaptiveBlobs(name string) (*Experiment[blobConfig], *adaptiveBlobs) {
	a := &adaptiveBlobs{seen: map[int][]float64{}, kept: map[int][]int{}}
	e := newBlobExperiment(name)
	plain := e.Data
	e.Data = func(cfg blobConfig, seed int64) (*Data, error) {
		d, err := plain(cfg, seed)
		if err != nil {
			return nil, err
		}
		tr := blobSet("train", 256, uint64(seed)+100, cfg.Noise) // the examples plain trains on
		d.StepsPerEpoch = 0
		d.Adapt = func(epoch int, predict Predictor) error {
			out, err := predict(tensors.FromFlatDataAndDimensions(slices.Clone(tr.X), tr.Len(), blobDim))
			if err != nil {
				return err
			}
			logits := tensors.MustCopyFlatData[float32](out[0])
			var keep []int
			mean := 0.0
			for i := range tr.Len() {
				row := logits[i*blobClasses : (i+1)*blobClasses]
				m := slices.Max(row)
				sum := 0.0
				for _, l := range row {
					sum += math.Exp(float64(l - m))
				}
				p := math.Exp(float64(row[tr.Y[i]]-m)) / sum
				mean += p / float64(tr.Len())
				if epoch == 0 || p < 0.9 {
					keep = append(keep, i)
				}
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.seen[epoch] = append(a.seen[epoch], mean)
			a.kept[epoch] = keep
			return nil
		}
		d.Train = func(epoch int) iter.Seq2[train.Batch, error] {
			a.mu.Lock()
			keep := a.kept[epoch]
			a.mu.Unlock()
			sub := &InMemory{Name: "kept", ExampleDims: tr.ExampleDims}
			for _, j := range Shuffled(len(keep), seed, epoch) {
				i := keep[j]
				sub.X = append(sub.X, tr.X[i*blobDim:(i+1)*blobDim]...)
				sub.Y = append(sub.Y, tr.Y[i])
			}
			return sub.Batches(nil, cfg.BatchSize, true)
		}
		return d, nil
	}
	return e, a
}

// TestAdaptiveDataSeesTheModel: Adapt is called before every epoch with the weights trained so
// far, so the epochs shrink as the model learns the blobs.
func TestAdaptiveDataSeesTheModel(t *testing.T) {
	b := backendtest.Go(t)
	e, a := newAdaptiveBlobs("adapt")
	cfg := blobDefaults()
	rec, err := e.Run(context.Background(), cfg, Options{Dir: t.TempDir(), Seed: 1, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.seen) != cfg.Epochs {
		t.Fatalf("Adapt called for epochs %v, want one call for each of %d", a.seen, cfg.Epochs)
	}
	if !(a.seen[0][0] < a.seen[1][0] && a.seen[1][0] < a.seen[2][0]) {
		t.Errorf("the model Adapt saw did not learn between epochs: mean true-class probability %v", a.seen)
	}
	if len(a.kept[0]) != 256 || len(a.kept[2]) >= len(a.kept[1]) || len(a.kept[1]) >= 256 {
		t.Errorf("kept %d, %d, %d examples: the epochs should shrink as the model learns", len(a.kept[0]), len(a.kept[1]), len(a.kept[2]))
	}
	want := 0
	for ep := range cfg.Epochs {
		want += len(a.kept[ep]) / cfg.BatchSize
	}
	if rec.Step != want {
		t.Errorf("trained %d steps, the kept examples make %d", rec.Step, want)
	}
}

// TestAdaptiveRunResumesAtEpochStart: interrupted mid-epoch, a run with adaptive data goes back
// to its last epoch end (the record on disk says so) and, resumed, sees the same weights in
// Adapt and ends with the metrics of an uninterrupted run.
func TestAdaptiveRunResumesAtEpochStart(t *testing.T) {
	b := backendtest.Go(t)
	cfg := blobDefaults()
	refExp, _ := newAdaptiveBlobs("adapt-resume")
	ref, err := refExp.Run(context.Background(), cfg, Options{Dir: t.TempDir(), Seed: 2, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	e, a := newAdaptiveBlobs("adapt-resume")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	epochEnd := 0
	_, err = e.Run(ctx, cfg, Options{Dir: dir, Seed: 2, Backend: b, Progress: func(ev Event) {
		switch {
		case ev.Kind == EventEpoch && ev.Epoch == 0:
			epochEnd = ev.Step
		case ev.Kind == EventStep && epochEnd > 0 && ev.Step == epochEnd+2:
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "resumes at the start of epoch 2") {
		t.Fatalf("interrupted run: %v", err)
	}
	id, _ := ConfigID(cfg)
	onDisk, err := ReadRecord(RunDir(dir, "adapt-resume", id, 2))
	if err != nil || onDisk.Status != StatusInterrupted || onDisk.Step != epochEnd || onDisk.Epoch != 1 || onDisk.EpochStep != 0 {
		t.Fatalf("record on disk after the interrupt: %v %+v (epoch 1 ended at step %d)", err, onDisk, epochEnd)
	}
	rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 2, Backend: b})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if len(a.seen[1]) != 2 || a.seen[1][0] != a.seen[1][1] {
		t.Errorf("Adapt of the interrupted epoch saw %v: the resumed run should see the same weights again", a.seen[1])
	}
	assertSameResults(t, rec, ref)

	bad := cfg
	bad.CheckpointEvery = 5
	if _, err := e.Run(context.Background(), bad, Options{Dir: t.TempDir(), Backend: b}); err == nil ||
		!strings.Contains(err.Error(), "checkpoint_every must be 0") {
		t.Errorf("mid-epoch checkpoints with adaptive data: %v", err)
	}
}
