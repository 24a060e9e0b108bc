package nn

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// ModelFn is the shape of every model this package builds: it reads its variables from scope
// and maps one input batch to one output batch.
type ModelFn = func(scope *model.Scope, x *graph.Node) *graph.Node

// Build builds fn's graph for one input shape on backend — creating fn's variables in store,
// without initializing or running anything — and returns the graph. Building in eval mode is
// enough to create every variable, which LoadStateDict with strict=true and CountParams need.
// The pure-Go backend makes this cheap.
func Build(backend compute.Backend, store *model.Store, fn ModelFn, inputShape shapes.Shape) (g *graph.Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("build model for input %s: %v", inputShape, r)
		}
	}()
	exec, err := model.NewExec(backend, store, fn)
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	g, err = exec.Compile(inputShape)
	if err != nil {
		return nil, fmt.Errorf("build model for input %s: %w", inputShape, err)
	}
	return g, nil
}

// CountParams returns the number of trainable parameters (what timm's
// sum(p.numel() for p in model.parameters()) counts) and of non-trainable buffers (BatchNorm
// running statistics) among the store's model variables.
func CountParams(store *model.Store) (trainable, buffers int64) {
	for v := range store.IterVariables() {
		if !isModelVariable(v.Path()) {
			continue
		}
		if v.Trainable {
			trainable += int64(v.Shape().Size())
		} else {
			buffers += int64(v.Shape().Size())
		}
	}
	return trainable, buffers
}

var (
	reKernelOut      = regexp.MustCompile(`KernelOutputChannels:(\d+)`)
	reLHSContracting = regexp.MustCompile(`lhsContractingAxes=\[([\d ]*)\]`)
)

// CountMACs counts the multiply-accumulates of the convolutions and matrix products
// (ConvGeneral and DotGeneral nodes) in a built graph, the terms that dominate a vision
// model's cost; normalizations, activations, pooling and additions are left out, as in the
// usual FLOPs tables (e.g. fvcore's). A convolution costs, per output element,
// (input channels / groups)·kh·kw MACs — its kernel size divided by its output channels; a
// DotGeneral costs, per output element, the product of its contracted dimensions.
//
// The op parameters are read from the graph nodes' descriptions, which GoMLX does not
// expose otherwise; an unexpected description is reported as an error rather than guessed.
func CountMACs(g *graph.Graph) (int64, error) {
	var total int64
	for _, n := range g.Nodes() {
		switch n.Type() {
		case graph.NodeTypeConvGeneral:
			kernel := n.Inputs()[1]
			m := reKernelOut.FindStringSubmatch(n.String())
			if m == nil {
				return 0, fmt.Errorf("count MACs: cannot read the kernel output axis of %s", n)
			}
			axis, _ := strconv.Atoi(m[1])
			out := kernel.Shape().Dimensions[axis]
			total += int64(n.Shape().Size()) * int64(kernel.Shape().Size()/out)
		case graph.NodeTypeDotGeneral:
			lhs := n.Inputs()[0]
			m := reLHSContracting.FindStringSubmatch(n.String())
			if m == nil {
				return 0, fmt.Errorf("count MACs: cannot read the contracting axes of %s", n)
			}
			k := int64(1)
			for _, f := range strings.Fields(m[1]) {
				axis, _ := strconv.Atoi(f)
				k *= int64(lhs.Shape().Dimensions[axis])
			}
			total += int64(n.Shape().Size()) * k
		}
	}
	return total, nil
}

// Cost summarizes a model's size and compute for one input shape.
type Cost struct {
	Params  int64 // trainable parameters
	Buffers int64 // non-trainable model state (BatchNorm running statistics)
	MACs    int64 // multiply-accumulates of convolutions and matrix products, for the whole batch
	FLOPs   int64 // 2·MACs: one multiply and one add each
}

// String formats the cost with SI prefixes, the way papers' tables do (e.g. "params 1.2M,
// MACs 35.4M, FLOPs 70.8M").
func (c Cost) String() string {
	return fmt.Sprintf("params %s, MACs %s, FLOPs %s", si(c.Params), si(c.MACs), si(c.FLOPs))
}

func si(n int64) string {
	v := float64(n)
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gK", v/1e3)
	}
	return fmt.Sprintf("%d", n)
}

// Measure builds fn for inputShape in a fresh store on backend and returns its Cost. Use a
// batch of 1 in inputShape for per-image numbers.
func Measure(backend compute.Backend, fn ModelFn, inputShape shapes.Shape) (Cost, error) {
	store := model.NewStore()
	g, err := Build(backend, store, fn, inputShape)
	if err != nil {
		return Cost{}, err
	}
	macs, err := CountMACs(g)
	if err != nil {
		return Cost{}, err
	}
	p, b := CountParams(store)
	return Cost{Params: p, Buffers: b, MACs: macs, FLOPs: 2 * macs}, nil
}
