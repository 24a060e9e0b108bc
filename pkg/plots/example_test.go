package plots_test

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/plots"
)

// A cell ending with a figure shows it as SVG; its text/plain form summarises it.
func ExampleFeatureMaps() {
	// An activation [H=14, W=14, C=48], channels last as GoMLX lays them out.
	data := make([]float32, 14*14*48)
	for i := range data {
		data[i] = float32(math.Sin(float64(i) / 7))
	}
	fm := plots.FeatureMaps{Data: tensors.FromFlatDataAndDimensions(data, 14, 14, 48), MaxChannels: 16}
	b, _ := fm.MIMEBundle()
	fmt.Println(b[display.MIMEText])
	// Output: Feature maps: 16 of 48 channels, 14×14, shared scale [-1, 1]
}

// Attention weights [queries, keys] with the numbers printed in the cells.
func ExampleAttentionMap() {
	w := [][]float64{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}, {0.3, 0.3, 0.4}}
	h := plots.AttentionMap(w, "head 0")
	h.ShowValues = true
	b, _ := h.MIMEBundle()
	fmt.Println(b[display.MIMEText])
	// Output: head 0: 3×3 matrix, colour range [0.1, 0.8]
}

// Training curves drawn while training; Flush draws the final state.
func ExampleLiveCurves() {
	live := plots.NewLiveCurves("training", "step", "loss")
	for step := range 100 {
		live.Add("train", float64(step), 1/float64(step+1))
	}
	live.Flush()
	fmt.Println(len(live.Curves().Series[0].Y))
}
