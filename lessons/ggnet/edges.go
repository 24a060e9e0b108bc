package ggnet

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/nn"
)

// EdgeRow is one way of making an edge map from a mask F by a 3×3 max-pool (stride 1, padding
// 1), compared with the two edge ground truths the phantoms offer.
type EdgeRow struct {
	Map string `display:"E computed on the true mask F"`
	// Values is the sign E can take.
	Values string `display:"values"`
	// Pixels is the mean number of non-zero pixels per image with a lesion.
	Pixels float64 `display:"pixels per image;format=%.1f"`
	// Where is which side of the margin the non-zero pixels lie on.
	Where string `display:"where"`
	// Precision and recall of E's non-zero pixels against Canny's contour and the
	// morphological gradient (dilation − erosion).
	CannyPrecision float64 `display:"precision vs Canny;format=%.2f"`
	CannyRecall    float64 `display:"recall vs Canny;format=%.2f"`
	MorphPrecision float64 `display:"precision vs morph.;format=%.2f"`
	MorphRecall    float64 `display:"recall vs morph.;format=%.2f"`
}

// EdgeMaps are the three maps of [EdgeTruth] for the first image, with its two ground truths.
type EdgeMaps struct {
	FMinusMax, MaxMinusF, FMinusMin, Canny, Morph []float32
	Size                                          int
}

// EdgeTruth computes, on the ground-truth masks of samples (F = the mask, 0 or 1), the
// paper's E = F − maxpool(F), the reversed maxpool(F) − F, and F − minpool(F) (minpool(F) =
// −maxpool(−F): an erosion), all with nn.MaxPool3x3Same, and compares where each is non-zero
// with the phantoms' Canny contour and 3×3 morphological gradient.
func EdgeTruth(b compute.Backend, samples []*phantom.Sample) ([]EdgeRow, *EdgeMaps, error) {
	var withLesion []*phantom.Sample
	for _, s := range samples {
		if len(s.Lesions) > 0 || hasLesion(s.Mask) {
			withLesion = append(withLesion, s)
		}
	}
	if len(withLesion) == 0 {
		return nil, nil, fmt.Errorf("edge truth: none of %d images has a lesion", len(samples))
	}
	n := withLesion[0].Size
	masks := make([]float32, 0, len(withLesion)*n*n)
	for _, s := range withLesion {
		for _, m := range s.Mask {
			masks = append(masks, float32(m))
		}
	}
	res, err := lesson.Catch("edges of the true masks", func() ([]*tensors.Tensor, error) {
		exec, err := model.NewExec(b, model.NewStore(), func(_ *model.Scope, f *Node) []*Node {
			mp := nn.MaxPool3x3Same(f)
			minp := Neg(nn.MaxPool3x3Same(Neg(f)))
			return []*Node{Sub(f, mp), Sub(mp, f), Sub(f, minp)}
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		return exec.Call(tensors.FromFlatDataAndDimensions(masks, len(withLesion), n, n, 1))
	})
	if err != nil {
		return nil, nil, err
	}
	names := []string{"F − maxpool(F) (the paper)", "maxpool(F) − F", "F − minpool(F)"}
	values := []string{"−1 or 0", "0 or +1", "0 or +1"}
	var rows []EdgeRow
	var maps EdgeMaps
	maps.Size = n
	for k, t := range res {
		flat := tensors.MustCopyFlatData[float32](t)
		r := EdgeRow{Map: names[k], Values: values[k]}
		var tp, pred, canny, tpM, morph, inside, outside int
		for i, s := range withLesion {
			mo := phantom.Edges(s.Mask, n, phantom.EdgeMorph)
			for p := range n * n {
				on := flat[i*n*n+p] != 0
				if on {
					pred++
					if s.Mask[p] != 0 {
						inside++
					} else {
						outside++
					}
				}
				if s.Boundary[p] != 0 {
					canny++
					if on {
						tp++
					}
				}
				if mo[p] != 0 {
					morph++
					if on {
						tpM++
					}
				}
			}
			if i == 0 {
				switch k {
				case 0:
					maps.FMinusMax = flat[:n*n]
					maps.Canny, maps.Morph = toFloat(s.Boundary), toFloat(mo)
				case 1:
					maps.MaxMinusF = flat[:n*n]
				default:
					maps.FMinusMin = flat[:n*n]
				}
			}
		}
		r.Pixels = float64(pred) / float64(len(withLesion))
		r.CannyPrecision, r.CannyRecall = ratio(tp, pred), ratio(tp, canny)
		r.MorphPrecision, r.MorphRecall = ratio(tpM, pred), ratio(tpM, morph)
		switch {
		case outside > 0 && inside == 0:
			r.Where = "just outside the margin"
		case inside > 0 && outside == 0:
			r.Where = "just inside the margin"
		default:
			r.Where = "on both sides"
		}
		rows = append(rows, r)
	}
	return rows, &maps, nil
}

// CannySide says on which side of the margin Canny's contour pixels of samples lie: the
// fraction inside the mask.
func CannySide(samples []*phantom.Sample) float64 {
	var in, all int
	for _, s := range samples {
		for p, v := range s.Boundary {
			if v != 0 {
				all++
				if s.Mask[p] != 0 {
					in++
				}
			}
		}
	}
	return ratio(in, all)
}

func hasLesion(m []uint8) bool {
	for _, v := range m {
		if v != 0 {
			return true
		}
	}
	return false
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// BDLevel is what a trained BD module computes at one encoder level, over test images.
type BDLevel struct {
	Level int `display:"level"`
	Size  int `display:"map side;unit=px"`
	// EMin and EMax are the range of the edge map E.
	EMin float64 `display:"min E;format=%.3f"`
	EMax float64 `display:"max E;format=%.3f"`
	// EdgeMSE is E's mean squared error against the edge ground truth averaged down to the
	// level (the shrink target); Floor the error of E ≡ 0, mean(edge²): an E that is never
	// positive cannot do better.
	EdgeMSE float64 `display:"edge MSE;format=%.4f"`
	Floor   float64 `display:"MSE of E = 0;format=%.4f"`
	// DiceWhole and DiceInterior are the Dice of F > 0 against the mask at the level (the
	// whole lesion) and against its interior (the mask eroded by one pixel): the notes' two
	// readings of F.
	DiceWhole    float64 `display:"Dice(F>0, lesion);format=%.3f"`
	DiceInterior float64 `display:"Dice(F>0, interior);format=%.3f"`
}

// BDMaps are the first image's F and E at every BD level.
type BDMaps struct {
	F, E  [][]float32
	Sizes []int
}

// ProbeBD runs a trained GG-Net on samples and reads its BD modules: the range of E, its edge
// error next to the floor of E ≡ 0, and which reading of F fits.
func ProbeBD(b compute.Backend, store *model.Store, cfg RunConfig, samples []*phantom.Sample) ([]BDLevel, *BDMaps, error) {
	n := cfg.ImageSize
	imgs := make([]float32, 0, len(samples)*n*n)
	masks := make([]float32, 0, len(samples)*n*n)
	edges := make([]float32, 0, len(samples)*n*n)
	for _, s := range samples {
		imgs = append(imgs, s.Image...)
		masks = append(masks, toFloat(s.Mask)...)
		edges = append(edges, toFloat(s.Boundary)...)
	}
	res, err := lesson.Catch("probe the BD modules", func() ([]*tensors.Tensor, error) {
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x, m, e *Node) []*Node {
			out := nn.GGNetForward(scope, x, cfg.Net())
			var nodes []*Node
			for _, bd := range out.Boundary {
				s := bd.F.Shape().Dimensions[1]
				ms := GreaterOrEqual(segkit.Shrink(m, s), Scalar(m.Graph(), m.DType(), 0.5))
				msf := ConvertDType(ms, m.DType())
				interior := Neg(nn.MaxPool3x3Same(Neg(msf)))
				nodes = append(nodes, bd.F, bd.Edge, msf, interior, segkit.Shrink(e, s))
			}
			return nodes
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		B := len(samples)
		return exec.Call(tensors.FromFlatDataAndDimensions(imgs, B, n, n, 1), tensors.FromFlatDataAndDimensions(masks, B, n, n, 1),
			tensors.FromFlatDataAndDimensions(edges, B, n, n, 1))
	})
	if err != nil {
		return nil, nil, err
	}
	var levels []BDLevel
	maps := &BDMaps{}
	for l := 0; 5*l < len(res); l++ {
		f, e := tensors.MustCopyFlatData[float32](res[5*l]), tensors.MustCopyFlatData[float32](res[5*l+1])
		whole, interior := tensors.MustCopyFlatData[float32](res[5*l+2]), tensors.MustCopyFlatData[float32](res[5*l+3])
		target := tensors.MustCopyFlatData[float32](res[5*l+4])
		size := res[5*l].Shape().Dimensions[1]
		lv := BDLevel{Level: l + 1, Size: size, EMin: math.Inf(1), EMax: math.Inf(-1)}
		var se, floor float64
		var interW, sumW, interI, sumI float64
		for i := range e {
			lv.EMin, lv.EMax = math.Min(lv.EMin, float64(e[i])), math.Max(lv.EMax, float64(e[i]))
			d := float64(e[i] - target[i])
			se += d * d
			floor += float64(target[i] * target[i])
			pos := 0.0
			if f[i] > 0 {
				pos = 1
			}
			interW += pos * float64(whole[i])
			sumW += pos + float64(whole[i])
			interI += pos * float64(interior[i])
			sumI += pos + float64(interior[i])
		}
		lv.EdgeMSE, lv.Floor = se/float64(len(e)), floor/float64(len(e))
		lv.DiceWhole, lv.DiceInterior = 2*interW/math.Max(sumW, 1), 2*interI/math.Max(sumI, 1)
		levels = append(levels, lv)
		maps.F = append(maps.F, f[:size*size])
		maps.E = append(maps.E, e[:size*size])
		maps.Sizes = append(maps.Sizes, size)
	}
	return levels, maps, nil
}
