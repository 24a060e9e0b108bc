// Command gostudy-kernel is the gostudy Jupyter kernel alone: `gostudy-kernel kernel -f
// CONNECTION_FILE [--repo DIR]` does what `gostudy kernel` does. It exists because a kernel
// must listen before the front end's first connection attempt (a ZMQ client that finds no
// listener retries only after 100 ms): without the experiment commands, GoMLX training and
// ONNX Runtime, the binary is a third of the size and listens sooner. `gostudy install`
// points the kernelspec at it when the set-up built it next to `gostudy`.
package main

import (
	"fmt"
	"os"

	"github.com/gostudy/gostudy/kernel"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "kernel" {
		args = args[1:]
	}
	if err := kernel.Command(args); err != nil {
		fmt.Fprintf(os.Stderr, "gostudy-kernel: %v\n", err)
		os.Exit(1)
	}
}
