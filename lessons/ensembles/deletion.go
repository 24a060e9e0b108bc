package ensembles

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Deleted is one block of a trained network deleted at test time.
type Deleted struct {
	Block        string
	Downsampling bool
	// Acc is the test accuracy without the block; Drop = intact accuracy − Acc.
	Acc, Drop float64
}

// Multi is the mean test accuracy with K blocks deleted at once, over random draws of the K
// among the blocks that keep the map size.
type Multi struct {
	K   int
	Acc float64
}

// Deletion is what deleting blocks does to one trained network.
type Deletion struct {
	// Intact is the test accuracy with every block.
	Intact float64
	// Single has one entry per block, in forward order.
	Single []Deleted
	// Multi has K = 0 (intact), 1, 2, … up to every block that keeps the map size.
	Multi []Multi
}

// Delete evaluates a trained resnet-family network (variables in store) on the first n digits
// of set: intact, with each block deleted in turn, and with K random blocks that keep the map
// size deleted at once (draws draws per K, drawn from seed). One graph is compiled; a deletion
// only changes its keep vector (LogitsKeeping).
func Delete(ctx context.Context, backend compute.Backend, store *model.Store, net Net, set *mnist.Set, n, draws int, seed uint64) (Deletion, error) {
	return lesson.Catch("delete blocks of "+net.Label(), func() (Deletion, error) {
		var d Deletion
		blocks := net.BlockList()
		if len(blocks) == 0 {
			return d, fmt.Errorf("%s has no blocks to delete", net.Label())
		}
		experiment.LoadAllVariables(store)
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x, keep *graph.Node) *graph.Node {
			return net.LogitsKeeping(scope, x, keep)
		})
		if err != nil {
			return d, err
		}
		defer exec.Finalize()
		var batches []*tensors.Tensor
		var labels []int32
		for start := 0; start < n; start += lesson.EvalBatch {
			x, y, err := lesson.Digits(set, start, min(lesson.EvalBatch, n-start))
			if err != nil {
				return d, err
			}
			batches, labels = append(batches, x), append(labels, y...)
		}
		accuracy := func(keep []float32) (float64, error) {
			right, i := 0, 0
			for _, x := range batches {
				if err := ctx.Err(); err != nil {
					return 0, err
				}
				out, err := exec.Call1(x, tensors.FromFlatDataAndDimensions(slices.Clone(keep), len(keep)))
				if err != nil {
					return 0, err
				}
				flat, err := tensors.CopyFlatData[float32](out)
				out.FinalizeAll()
				if err != nil {
					return 0, err
				}
				for _, p := range lesson.ArgmaxRows(flat, Classes) {
					if p == int(labels[i]) {
						right++
					}
					i++
				}
			}
			return float64(right) / float64(len(labels)), nil
		}
		all := make([]float32, len(blocks))
		for i := range all {
			all[i] = 1
		}
		if d.Intact, err = accuracy(all); err != nil {
			return d, err
		}
		var keepSize []int
		for i, b := range blocks {
			keep := slices.Clone(all)
			keep[i] = 0
			acc, err := accuracy(keep)
			if err != nil {
				return d, err
			}
			d.Single = append(d.Single, Deleted{Block: b.Name, Downsampling: b.Downsampling(), Acc: acc, Drop: d.Intact - acc})
			if !b.Downsampling() {
				keepSize = append(keepSize, i)
			}
		}
		d.Multi = append(d.Multi, Multi{K: 0, Acc: d.Intact})
		rng := rand.New(rand.NewPCG(seed, 11))
		for k := 1; k <= len(keepSize); k++ {
			sum := 0.0
			for range draws {
				keep := slices.Clone(all)
				perm := rng.Perm(len(keepSize))
				for _, j := range perm[:k] {
					keep[keepSize[j]] = 0
				}
				acc, err := accuracy(keep)
				if err != nil {
					return d, err
				}
				sum += acc
			}
			d.Multi = append(d.Multi, Multi{K: k, Acc: sum / float64(draws)})
		}
		return d, nil
	})
}

// Damage is one block's accuracy drop when deleted, over seeds.
type Damage struct {
	Block        string          `display:"block"`
	Downsampling bool            `display:"changes the map size"`
	Drop         experiment.Stat `display:"accuracy drop"`
}

// DamageOf pools the single deletions of several seeds of one network, block by block.
func DamageOf(seeds []Deletion) []Damage {
	if len(seeds) == 0 {
		return nil
	}
	var out []Damage
	for i, s := range seeds[0].Single {
		var drops []float64
		for _, d := range seeds {
			drops = append(drops, d.Single[i].Drop)
		}
		out = append(out, Damage{Block: s.Block, Downsampling: s.Downsampling, Drop: experiment.NewStat(drops)})
	}
	return out
}

// MeanDrops are a network's mean accuracy drops per seed, over the blocks that keep the map size
// and over those that change it: the two numbers the lesson compares.
func MeanDrops(seeds []Deletion) (keepSize, changeSize experiment.Stat) {
	var ks, cs []float64
	for _, d := range seeds {
		var k, c []float64
		for _, s := range d.Single {
			if s.Downsampling {
				c = append(c, s.Drop)
			} else {
				k = append(k, s.Drop)
			}
		}
		ks, cs = append(ks, mean(k)), append(cs, mean(c))
	}
	return experiment.NewStat(ks), experiment.NewStat(cs)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Chance is the accuracy of guessing among the ten digits.
const Chance = 0.1

// Retained is the share of a network's accuracy above chance that is left with k blocks deleted
// (the mean over Multi's draws): 1 when deleting costs nothing, 0 when the network is reduced to
// guessing.
func (d Deletion) Retained(k int) float64 {
	if k < 0 || k >= len(d.Multi) || d.Intact <= Chance {
		return 0
	}
	return (d.Multi[k].Acc - Chance) / (d.Intact - Chance)
}
