// Command echokernel is a minimal Jupyter kernel used only to test package protocol
// against the real jupyter_client: it answers kernel_info, echoes the code of every
// execute_request as a stream message (between busy and idle status messages), reads a
// line from the frontend when the code starts with "input:", and exits on shutdown.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/gostudy/gostudy/kernel/internal/protocol"
)

func main() {
	connFile := flag.String("f", "", "Jupyter connection file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*connFile, log); err != nil {
		fmt.Fprintln(os.Stderr, "echokernel:", err)
		os.Exit(1)
	}
}

func run(connFile string, log *slog.Logger) error {
	info, err := protocol.LoadConnectionFile(connFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := protocol.Listen(ctx, info, log)
	if err != nil {
		return err
	}
	k := &kernel{srv: srv, log: log, shell: make(chan protocol.Request, 64)}
	_ = srv.Status(nil, "starting")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // shell requests run one at a time, away from the control path
		defer wg.Done()
		for req := range k.shell {
			k.handle(ctx, req)
		}
	}()
	for req := range srv.Requests() {
		if req.Channel == protocol.Shell {
			k.shell <- req
			continue
		}
		if k.handle(ctx, req) {
			break
		}
	}
	close(k.shell)
	wg.Wait()
	return srv.Close()
}

type kernel struct {
	srv   *protocol.Server
	log   *slog.Logger
	shell chan protocol.Request
	mu    sync.Mutex
	count int
}

// handle answers one request; it reports true when the kernel must exit.
func (k *kernel) handle(ctx context.Context, req protocol.Request) (exit bool) {
	m := req.Msg
	k.must(k.srv.Status(m, "busy"))
	defer func() { k.must(k.srv.Status(m, "idle")) }()
	switch m.Header.MsgType {
	case "kernel_info_request":
		k.must(k.srv.Reply(req, "kernel_info_reply", map[string]any{
			"status":                 "ok",
			"protocol_version":       protocol.ProtocolVersion,
			"implementation":         "echokernel",
			"implementation_version": "0.1",
			"language_info": map[string]any{
				"name": "echo", "version": "1.0", "mimetype": "text/plain", "file_extension": ".txt",
			},
			"banner":     "echo kernel for protocol tests",
			"help_links": []any{},
		}))
	case "execute_request":
		var c struct {
			Code       string `json:"code"`
			AllowStdin bool   `json:"allow_stdin"`
		}
		if err := m.DecodeContent(&c); err != nil {
			k.log.Warn("bad execute_request", "err", err)
			return false
		}
		k.mu.Lock()
		k.count++
		n := k.count
		k.mu.Unlock()
		k.must(k.srv.Publish(m, "execute_input", map[string]any{"code": c.Code, "execution_count": n}))
		text := c.Code
		if prompt, ok := strings.CutPrefix(c.Code, "input:"); ok && c.AllowStdin {
			v, err := k.srv.Input(ctx, m, prompt, false)
			if err != nil {
				text = "input failed: " + err.Error()
			} else {
				text = "you typed " + v
			}
		}
		k.must(k.srv.Publish(m, "stream", map[string]any{"name": "stdout", "text": text}))
		k.must(k.srv.Reply(req, "execute_reply", map[string]any{
			"status": "ok", "execution_count": n, "user_expressions": map[string]any{}, "payload": []any{},
		}))
	case "interrupt_request":
		k.must(k.srv.Reply(req, "interrupt_reply", map[string]any{"status": "ok"}))
	case "shutdown_request":
		var c struct {
			Restart bool `json:"restart"`
		}
		_ = m.DecodeContent(&c)
		k.must(k.srv.Reply(req, "shutdown_reply", map[string]any{"status": "ok", "restart": c.Restart}))
		return true
	default:
		k.log.Info("unhandled request", "msg_type", m.Header.MsgType)
	}
	return false
}

func (k *kernel) must(err error) {
	if err != nil {
		k.log.Error("send failed", "err", err)
	}
}
