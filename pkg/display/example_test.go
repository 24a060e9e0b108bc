package display_test

import (
	"fmt"

	"github.com/gostudy/gostudy/pkg/display"
)

// Outside a notebook the default publisher prints text displays on stdout.
func ExampleShow() {
	type result struct {
		Model    string
		Accuracy float64
	}
	display.Show(result{Model: "resnext", Accuracy: 0.93})
	display.Show([]int{1, 2, 3})
	// Output:
	// result{Model: "resnext", Accuracy: 0.93}
	// [1 2 3]
}

// BundleOf is what the kernel uses for a cell's value: a small 2-D tensor gets an HTML
// table beside its text, a slice of structs becomes a table, anything else is text.
func ExampleBundleOf() {
	b, _ := display.BundleOf(map[string]float64{"dropout": 0.1, "lr": 3e-4})
	fmt.Println(b[display.MIMEText])
	// Output: map["dropout":0.1 "lr":0.0003]
}

// A handle shows something once and then replaces it in place.
func ExampleNew() {
	h := display.New()
	for epoch := 1; epoch <= 3; epoch++ {
		h.Markdown(fmt.Sprintf("**epoch %d** of 3", epoch))
	}
	// Output: **epoch 1** of 3
}
