package nn

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// sgdUpdate applies one plain SGD step (lr) to every trainable model variable the graph of
// loss uses, and returns those variables' paths and the squared norms of their gradients.
// It is the one training step the pkg/nn tests use.
func sgdUpdate(scope *model.Scope, loss *graph.Node, lr float64) (paths []string, gradSq []*graph.Node) {
	g := loss.Graph()
	var vars []*model.Variable
	var nodes []*graph.Node
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) && isModelVariable(v.Path()) {
			vars = append(vars, v)
			nodes = append(nodes, v.NodeValue(g))
		}
	}
	for i, grad := range graph.Gradient(loss, nodes...) {
		vars[i].SetNodeValue(graph.Sub(nodes[i], graph.MulScalar(grad, lr)))
		paths = append(paths, vars[i].Path())
		gradSq = append(gradSq, graph.ReduceAllSum(graph.Square(grad)))
	}
	return paths, gradSq
}

// sgdLosses trains fn in training mode with plain SGD (lr) on one fixed batch from a fresh
// store seeded 7, and returns the loss before each step and the trainable variables whose
// gradient was zero (or not finite) at every step: the gradient never reached them. loss maps
// (prediction, target) to a scalar.
func sgdLosses(t *testing.T, b nntest.Backend, fn ModelFn, loss func(pred, target *graph.Node) *graph.Node,
	x, target *tensors.Tensor, steps int, lr float64) (losses []float64, noGrad []string) {
	t.Helper()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(7); err != nil {
		t.Fatal(err)
	}
	var paths []string
	step := func(scope *model.Scope, x, target *graph.Node) []*graph.Node {
		scope.Store().SetTraining(x.Graph(), true)
		l := loss(fn(scope, x), target)
		var gradSq []*graph.Node
		paths, gradSq = sgdUpdate(scope, l, lr)
		if len(paths) == 0 {
			t.Fatal("no trainable variables")
		}
		return append([]*graph.Node{l}, gradSq...)
	}
	exec, err := model.NewExec(b.Backend, store, step)
	if err != nil {
		t.Fatal(err)
	}
	reached := make([]bool, 0)
	for range steps {
		outs, err := exec.Call(localClones(t, x, target)...)
		if err != nil {
			t.Fatalf("train step on %s: %v", b.Name, err)
		}
		losses = append(losses, flat(outs[0])[0])
		if len(reached) == 0 {
			reached = make([]bool, len(outs)-1)
		}
		for j, o := range outs[1:] {
			if sq := flat(o)[0]; sq > 0 && !math.IsInf(sq, 0) {
				reached[j] = true
			}
		}
	}
	for j, ok := range reached {
		if !ok {
			noGrad = append(noGrad, paths[j])
		}
	}
	return losses, noGrad
}

// crossEntropy is the mean softmax cross-entropy of logits [B, K] against one-hot targets.
func crossEntropy(logits, onehot *graph.Node) *graph.Node {
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(onehot, graph.LogSoftmax(logits, -1)), -1)))
}

// classBatch returns a random image batch and random one-hot labels (a batch to memorize).
func classBatch(seed uint64, b, h, w, c, k int) (*tensors.Tensor, *tensors.Tensor) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	x := randTensor(r, b, h, w, c)
	y := make([]float32, b*k)
	for i := range b {
		y[i*k+r.IntN(k)] = 1
	}
	return x, tensors.FromFlatDataAndDimensions(y, b, k)
}

// assertLearns fails unless the last loss is below frac × the first, all are finite, and
// every trainable variable got a gradient (sgdLosses' noGrad is empty).
func assertLearns(t *testing.T, name string, losses []float64, noGrad []string, frac float64) {
	t.Helper()
	first, last := losses[0], losses[len(losses)-1]
	for _, l := range losses {
		if l != l {
			t.Fatalf("%s: NaN loss in %v", name, losses)
		}
	}
	if len(noGrad) > 0 {
		t.Errorf("%s: no gradient ever reached %v", name, noGrad)
	}
	if last >= frac*first {
		t.Errorf("%s: loss %.4f → %.4f after %d SGD steps, want below %.2f× the start (%v)", name, first, last, len(losses), frac, losses)
	} else {
		t.Logf("%s: loss %.4f → %.4f after %d SGD steps", name, first, last, len(losses))
	}
}

// TestModelsLearn checks that gradients flow through every classifier family, timm-style one
// table over all of them: a few SGD steps on one memorizable batch lower the loss, on every
// test backend, and every trainable variable gets a gradient. The configs are scaled-down
// versions of the presets so that the pure-Go backend runs them and XLA compiles them quickly.
func TestModelsLearn(t *testing.T) {
	small, smallY := classBatch(1, 4, 12, 12, 1, 3)
	mnist, mnistY := classBatch(3, 8, 28, 28, 1, 10)
	// The transformer presets' layouts, narrowed.
	vit := ViTTiny28()
	vit.EmbedDim, vit.Depth = 32, 2
	swin := SwinTiny28()
	swin.EmbedDim = 16
	pool := PoolFormerTiny28()
	pool.Dims = []int{8, 16, 24}
	models := []struct {
		name string
		fn   ModelFn
		x, y *tensors.Tensor
		lr   float64
		frac float64 // the last loss must fall below frac × the first
	}{
		{"resnet", ResNet(ResNetConfig{InChannels: 1, NumClasses: 3, StemWidth: 8, Layers: []int{1, 1}, Planes: []int{8, 16}}),
			small, smallY, 0.1, 0.8},
		{"resnext", ResNet(ResNetConfig{InChannels: 1, NumClasses: 3, StemWidth: 8, Bottleneck: true, Layers: []int{1, 1},
			Planes: []int{4, 8}, Cardinality: 2, BaseWidth: 32}), small, smallY, 0.1, 0.8},
		{"convnext", ConvNeXt(ConvNeXtConfig{InChannels: 1, NumClasses: 3, PatchSize: 2, Depths: []int{1, 1}, Dims: []int{8, 16},
			Kernel: 3, Strides: []int{1, 2}}), small, smallY, 0.1, 0.8},
		{"repvgg", RepVGGNet(RepVGGNetConfig{InChannels: 1, NumClasses: 3, StemWidth: 8, Depths: []int{1, 1}, Widths: []int{8, 16}}),
			small, smallY, 0.1, 0.8},
		{"acmix-bottleneck", func(s *model.Scope, x *graph.Node) *graph.Node {
			x = Conv2d(s.In("stem"), x, Conv2dConfig{Out: 16, Kernel: 3, Stride: 2, Padding: 1})
			x = ACmixBottleneck(s.In("block"), x, BottleneckConfig{Planes: 4}, ACmixConfig{Heads: 2, KernelAtt: 3})
			return Linear(s.In("fc"), GlobalAvgPool2d(x), 3, true)
		}, small, smallY, 0.3, 0.8},
		{"vit", ViT(vit), mnist, mnistY, 0.02, 0.9},
		{"swin", Swin(swin), mnist, mnistY, 0.15, 0.9},
		{"poolformer", PoolFormer(pool), mnist, mnistY, 0.05, 0.9},
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for i, m := range models {
			if testing.Short() && b.Name != "go" && i > 0 {
				t.Logf("-short: %s skipped on %s (compiling its gradient graph takes seconds)", m.name, b.Name)
				continue
			}
			start := time.Now()
			losses, noGrad := sgdLosses(t, b, m.fn, crossEntropy, m.x, m.y, 6, m.lr)
			assertLearns(t, m.name, losses, noGrad, m.frac)
			t.Logf("%s took %s", m.name, time.Since(start))
		}
	})
}

// TestTinyConfigs checks the published Tiny configs build, produce logits of the right shape
// and report params/FLOPs (built on the pure-Go backend without running).
func TestTinyConfigs(t *testing.T) {
	b := goBackend(t)
	cases := []struct {
		name string
		fn   ModelFn
		in   []int
	}{
		{"ResNetTiny28", ResNet(ResNetTiny28()), []int{1, 28, 28, 1}},
		{"ResNetTiny64", ResNet(ResNetTiny64()), []int{1, 64, 64, 3}},
		{"ResNeXtTiny28", ResNet(ResNeXtTiny28()), []int{1, 28, 28, 1}},
		{"ResNeXtTiny64", ResNet(ResNeXtTiny64()), []int{1, 64, 64, 3}},
		{"ConvNeXtTiny28", ConvNeXt(ConvNeXtTiny28()), []int{1, 28, 28, 1}},
		{"ConvNeXtTiny64", ConvNeXt(ConvNeXtTiny64()), []int{1, 64, 64, 3}},
		{"RepVGGTiny28", RepVGGNet(RepVGGTiny28()), []int{1, 28, 28, 1}},
	}
	for _, c := range cases {
		store := model.NewStore()
		g, err := Build(b, store, c.fn, shapes.Make(dtypes.Float32, c.in...))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := len(g.Nodes()); n == 0 {
			t.Fatalf("%s: empty graph", c.name)
		}
		cost, err := Measure(b, c.fn, shapes.Make(dtypes.Float32, c.in...))
		if err != nil {
			t.Fatal(err)
		}
		if cost.Params < 10_000 || cost.MACs < 100_000 {
			t.Errorf("%s: implausible cost %v", c.name, cost)
		}
		t.Logf("%-15s %v", c.name, cost)
	}
}

// TestResNetTiny28MACsByFormula counts ResNetTiny28's multiply-adds by hand, layer by layer,
// and compares with Measure (which reads them off the graph).
func TestResNetTiny28MACsByFormula(t *testing.T) {
	conv := func(hw, out, in, k int) int64 { return int64(hw * hw * out * in * k * k) }
	want := conv(28, 16, 1, 3) + // stem
		4*conv(28, 16, 16, 3) + // layer1: two BasicBlocks, two 3×3 each
		conv(14, 32, 16, 3) + conv(14, 32, 32, 3) + conv(14, 32, 16, 1) + 2*conv(14, 32, 32, 3) + // layer2
		conv(7, 64, 32, 3) + conv(7, 64, 64, 3) + conv(7, 64, 32, 1) + 2*conv(7, 64, 64, 3) + // layer3
		64*10 // fc
	c, err := Measure(goBackend(t), ResNet(ResNetTiny28()), shapes.Make(dtypes.Float32, 1, 28, 28, 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.MACs != want || c.FLOPs != 2*want {
		t.Errorf("MACs %d (FLOPs %d), formula gives %d", c.MACs, c.FLOPs, want)
	}
	// Params by formula: convs, 2 per BN channel, fc.
	wantParams := int64(16*1*9 + 2*16 +
		4*(16*16*9+2*16) +
		(32*16*9 + 32*32*9 + 32*16 + 3*2*32) + 2*(32*32*9+2*32) +
		(64*32*9 + 64*64*9 + 64*32 + 3*2*64) + 2*(64*64*9+2*64) +
		64*10 + 10)
	if c.Params != wantParams {
		t.Errorf("params %d, formula gives %d", c.Params, wantParams)
	}
}
