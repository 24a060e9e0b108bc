package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gostudy/gostudy/kernel/internal/gopls"
	"github.com/gostudy/gostudy/kernel/internal/kernelspec"
	"github.com/gostudy/gostudy/kernel/internal/protocol"
	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/widgets"
)

// Version is the kernel's implementation version.
const Version = "0.1.0"

// Options configure Run.
type Options struct {
	ConnectionFile string
	RepoDir        string // the gostudy checkout; cells build against it
	GoplsPath      string // gopls binary; code intelligence is off when empty or missing
	Log            *slog.Logger
}

// Kernel serves one Jupyter session.
type Kernel struct {
	opts   Options
	log    *slog.Logger
	srv    *protocol.Server
	engine *Engine

	mu       sync.Mutex
	count    int                // execution_count
	cancel   context.CancelFunc // cancels the running execution
	history  []historyEntry
	gopls    *gopls.Client
	goplsErr error
	goplsMu  sync.Mutex
	// goplsWanted is closed (once, by wantGopls) when gopls should start; goplsUp when it
	// has started or failed to.
	goplsWanted chan struct{}
	goplsOnce   sync.Once
	goplsUp     chan struct{}

	queue requestQueue // execute requests, run one at a time, in order
	// commQueue holds the front end's comm messages until commLoop hands them to the
	// runner, one at a time and in order.
	commQueue requestQueue
	aborting  bool      // replying "aborted" to queued requests after an error
	stop      chan bool // shutdown requested (value: restart)
}

// requestQueue holds requests (executes, comm messages) until their loop takes them, in
// arrival order. It has no fixed capacity: Run All on a long notebook sends hundreds of
// execute requests at once and every one must get its reply, and a dragged slider sends a
// comm message per step. (Each request is bounded by protocol.MaxMessageSize; a front
// end that can sign requests can run code anyway, so a count limit would protect nothing.)
type requestQueue struct {
	mu    sync.Mutex
	items []protocol.Request
	added chan struct{} // capacity 1: a token meaning "items may be non-empty"
}

func newRequestQueue() requestQueue { return requestQueue{added: make(chan struct{}, 1)} }

// push appends r; it never blocks.
func (q *requestQueue) push(r protocol.Request) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.added <- struct{}{}:
	default:
	}
}

// pop waits for the oldest request; ok is false when ctx ended first.
func (q *requestQueue) pop(ctx context.Context) (r protocol.Request, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			r = q.items[0]
			q.items[0] = protocol.Request{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return r, true
		}
		q.mu.Unlock()
		select {
		case <-q.added:
		case <-ctx.Done():
			return r, false
		}
	}
}

// len is the number of requests waiting.
func (q *requestQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

type historyEntry struct {
	line   int
	input  string
	output string // text/plain of the cell's result, if it had one
}

// Run serves the kernel until a shutdown request, or until ctx is done.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	info, err := protocol.LoadConnectionFile(opts.ConnectionFile)
	if err != nil {
		return err
	}
	// Listen first: the front end connects as soon as it started the process, and a ZMQ
	// client that finds no listener retries only after its reconnect interval (100 ms).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := protocol.Listen(ctx, info, opts.Log)
	if err != nil {
		return err
	}
	defer srv.Close()
	engine, err := NewEngine(EngineOptions{RepoDir: opts.RepoDir, Log: opts.Log, Deferred: true})
	if err != nil {
		return err
	}
	defer engine.Close()
	k := &Kernel{opts: opts, log: opts.Log, srv: srv, engine: engine,
		queue: newRequestQueue(), commQueue: newRequestQueue(), stop: make(chan bool, 1),
		goplsWanted: make(chan struct{}), goplsUp: make(chan struct{})}
	defer k.closeGopls()
	engine.SetIdleSink(&iopubSink{k: k})
	// A front end that sends no kernel_info_request still gets a prepared session.
	time.AfterFunc(300*time.Millisecond, engine.Start)
	go k.executeLoop(ctx)
	go k.commLoop(ctx)
	go k.startGopls(ctx)
	_ = srv.Publish(nil, "status", map[string]any{"execution_state": "starting"})
	for {
		select {
		case req, ok := <-srv.Requests():
			if !ok {
				return nil
			}
			k.dispatch(ctx, req)
		case restart := <-k.stop:
			k.log.Info("shutting down", "restart", restart)
			k.interrupt()
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// dispatch handles one request. Executions are queued (one at a time, in order); every other
// request is answered right away, even while a cell runs.
func (k *Kernel) dispatch(ctx context.Context, req protocol.Request) {
	switch req.Msg.Header.MsgType {
	case "execute_request":
		k.queue.push(req)
	case "interrupt_request":
		k.interrupt()
		k.reply(req, "interrupt_reply", map[string]any{"status": "ok"})
	case "shutdown_request":
		var c struct {
			Restart bool `json:"restart"`
		}
		_ = req.Msg.DecodeContent(&c)
		k.busy(req, func() {
			k.reply(req, "shutdown_reply", map[string]any{"status": "ok", "restart": c.Restart})
		})
		select {
		case k.stop <- c.Restart:
		default:
		}
	case "comm_open", "comm_msg", "comm_close":
		// Widgets live in the runner: their messages go there, in order, whether or not a
		// cell is running (see commLoop).
		k.commQueue.push(req)
	default:
		go k.busy(req, func() { k.answer(ctx, req) })
	}
}

// commLoop hands the front end's comm messages to the engine, one at a time, in order.
// While no cell runs, each is wrapped in busy/idle status messages with the comm message as
// parent (as ipykernel does), and what its change functions print goes there; while a cell
// runs, the status stays the cell's and their output joins the cell's.
func (k *Kernel) commLoop(ctx context.Context) {
	for {
		req, ok := k.commQueue.pop(ctx)
		if !ok {
			return
		}
		var c struct {
			CommID     string         `json:"comm_id"`
			TargetName string         `json:"target_name"`
			Data       map[string]any `json:"data"`
		}
		if err := req.Msg.DecodeContent(&c); err != nil || c.CommID == "" {
			k.log.Warn("bad comm message", "type", req.Msg.Header.MsgType, "err", err)
			continue
		}
		m := widgets.Message{Type: req.Msg.Header.MsgType, CommID: c.CommID, Target: c.TargetName, Data: c.Data, Metadata: req.Msg.Metadata}
		sink := &iopubSink{k: k, parent: req.Msg}
		k.mu.Lock()
		running := k.cancel != nil
		k.mu.Unlock()
		handle := func() {
			if err := k.engine.Comm(ctx, m, sink); err != nil {
				k.log.Warn("comm message not delivered", "type", m.Type, "comm", m.CommID, "err", err)
			}
		}
		if running {
			handle()
		} else {
			k.busy(req, handle)
		}
	}
}

// busy wraps a request's handling in busy/idle status messages.
func (k *Kernel) busy(req protocol.Request, f func()) {
	_ = k.srv.Status(req.Msg, "busy")
	defer func() { _ = k.srv.Status(req.Msg, "idle") }()
	f()
}

func (k *Kernel) reply(req protocol.Request, msgType string, content any) {
	if err := k.srv.Reply(req, msgType, content); err != nil {
		k.log.Error("reply", "type", msgType, "err", err)
	}
}

// answer handles requests other than execute, interrupt and shutdown.
func (k *Kernel) answer(ctx context.Context, req protocol.Request) {
	switch req.Msg.Header.MsgType {
	case "kernel_info_request":
		k.reply(req, "kernel_info_reply", k.kernelInfo())
		// The front end knows the kernel is up: prepare the session now (it was left alone
		// so this first answer did not wait for the CPU).
		k.engine.Start()
	case "is_complete_request":
		var c struct {
			Code string `json:"code"`
		}
		if err := req.Msg.DecodeContent(&c); err != nil {
			k.reply(req, "is_complete_reply", map[string]any{"status": "unknown"})
			return
		}
		status := cellSyntax.IsComplete(c.Code)
		content := map[string]any{"status": status}
		if status == "incomplete" {
			content["indent"] = "\t"
		}
		k.reply(req, "is_complete_reply", content)
	case "complete_request":
		k.reply(req, "complete_reply", k.complete(ctx, req))
	case "inspect_request":
		k.reply(req, "inspect_reply", k.inspect(ctx, req))
	case "history_request":
		k.reply(req, "history_reply", k.historyReply(req))
	case "comm_info_request":
		var c struct {
			TargetName string `json:"target_name"`
		}
		_ = req.Msg.DecodeContent(&c)
		comms := map[string]any{}
		for id, target := range k.engine.Comms(c.TargetName) {
			comms[id] = map[string]any{"target_name": target}
		}
		k.reply(req, "comm_info_reply", map[string]any{"status": "ok", "comms": comms})
	default:
		k.log.Warn("unsupported request", "type", req.Msg.Header.MsgType)
	}
}

func (k *Kernel) kernelInfo() map[string]any {
	return map[string]any{
		"status":                 "ok",
		"protocol_version":       protocol.ProtocolVersion,
		"implementation":         "gostudy",
		"implementation_version": Version,
		// JupyterLab copies language_info into every notebook it opens with this kernel and
		// marks the notebook modified when it differs from the saved one, so it holds only
		// what is the same on every machine: the Go language version cells are type-checked
		// against (the compiler's go1.26), not this toolchain's release. The notebooks in
		// notebooks/ are committed with exactly this (kernel/kernelinfo_test.go checks).
		"language_info": map[string]any{
			"name":               "go",
			"version":            "1.26",
			"mimetype":           "text/x-go",
			"file_extension":     ".go",
			"pygments_lexer":     "go",
			"codemirror_mode":    "go",
			"nbconvert_exporter": "script",
		},
		"banner":   "gostudy " + Version + " (" + runtime.Version() + ") — Go cells compiled as plugins into a live runner; values persist across cells. %help lists the magics.",
		"debugger": false,
		"help_links": []map[string]string{
			{"text": "Go documentation", "url": "https://go.dev/doc/"},
			{"text": "GoMLX", "url": "https://github.com/gomlx/gomlx"},
		},
	}
}

// executeLoop runs queued executions one at a time.
func (k *Kernel) executeLoop(ctx context.Context) {
	for {
		req, ok := k.queue.pop(ctx)
		if !ok {
			return
		}
		k.busy(req, func() { k.execute(ctx, req) })
		k.wantGopls()
		if k.queue.len() == 0 {
			k.mu.Lock()
			k.aborting = false
			k.mu.Unlock()
		}
	}
}

type executeRequest struct {
	Code         string `json:"code"`
	Silent       bool   `json:"silent"`
	StoreHistory *bool  `json:"store_history"`
	AllowStdin   *bool  `json:"allow_stdin"`
	StopOnError  *bool  `json:"stop_on_error"`
}

func (k *Kernel) execute(ctx context.Context, req protocol.Request) {
	var c executeRequest
	if err := req.Msg.DecodeContent(&c); err != nil {
		k.reply(req, "execute_reply", map[string]any{"status": "error", "ename": "BadRequest", "evalue": err.Error(), "traceback": []string{err.Error()}, "execution_count": k.count})
		return
	}
	store := c.StoreHistory == nil || *c.StoreHistory
	if c.Silent {
		store = false
	}
	k.mu.Lock()
	if k.aborting {
		k.mu.Unlock()
		k.reply(req, "execute_reply", map[string]any{"status": "aborted", "execution_count": k.count})
		return
	}
	if store {
		k.count++
		k.history = append(k.history, historyEntry{line: k.count, input: c.Code})
	}
	n := k.count
	execCtx, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.cancel = nil
		k.mu.Unlock()
		cancel()
	}()
	if !c.Silent {
		_ = k.srv.Publish(req.Msg, "execute_input", map[string]any{"code": c.Code, "execution_count": n})
	}
	sink := &iopubSink{k: k, parent: req.Msg, count: n, silent: c.Silent,
		allowStdin: c.AllowStdin == nil || *c.AllowStdin}
	// A silent execution still needs a cell number for its file name; it never shows it.
	cellNum := n
	if !store {
		cellNum = 100000 + k.nextSilent()
	}
	err := k.engine.Execute(execCtx, cellNum, c.Code, sink)
	if err == nil {
		k.reply(req, "execute_reply", map[string]any{"status": "ok", "execution_count": n, "user_expressions": map[string]any{}, "payload": []any{}})
		return
	}
	ee, ok := err.(*ExecError)
	if !ok {
		ee = &ExecError{Name: "KernelError", Value: err.Error()}
	}
	tb := ee.Traceback
	if len(tb) == 0 {
		tb = []string{ee.Name + ": " + ee.Value}
	}
	if !c.Silent {
		_ = k.srv.Publish(req.Msg, "error", map[string]any{"ename": ee.Name, "evalue": ee.Value, "traceback": tb})
	}
	if c.StopOnError == nil || *c.StopOnError {
		k.mu.Lock()
		k.aborting = k.queue.len() > 0
		k.mu.Unlock()
	}
	k.reply(req, "execute_reply", map[string]any{"status": "error", "execution_count": n, "ename": ee.Name, "evalue": ee.Value, "traceback": tb})
}

var silentSeq struct {
	sync.Mutex
	n int
}

func (k *Kernel) nextSilent() int {
	silentSeq.Lock()
	defer silentSeq.Unlock()
	silentSeq.n++
	return silentSeq.n
}

// interrupt cancels the running execution (the engine stops the cell, or restarts the
// runner when the cell does not stop).
func (k *Kernel) interrupt() {
	k.mu.Lock()
	cancel := k.cancel
	k.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// iopubSink forwards an execution's output to iopub.
type iopubSink struct {
	k          *Kernel
	parent     *protocol.Message
	count      int
	silent     bool
	allowStdin bool
}

func (s *iopubSink) Stream(name, text string) {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	_ = s.k.srv.Publish(s.parent, "stream", map[string]any{"name": name, "text": text})
}

func (s *iopubSink) Display(m display.Message) {
	switch m.Type {
	case display.TypeClearOutput:
		_ = s.k.srv.Publish(s.parent, "clear_output", map[string]any{"wait": m.Wait})
	case display.TypeDisplayData, display.TypeUpdateDisplayData:
		md := m.Metadata
		if md == nil {
			md = map[string]any{}
		}
		content := map[string]any{"data": m.Data, "metadata": md, "transient": map[string]any{}}
		if m.DisplayID != "" {
			content["transient"] = map[string]any{"display_id": m.DisplayID}
		}
		_ = s.k.srv.Publish(s.parent, m.Type, content)
	}
}

// Comm publishes a comm message of the runner's widgets; comm_open carries the widget
// protocol version in the message's metadata, where front ends look for it.
func (s *iopubSink) Comm(m widgets.Message) {
	content := map[string]any{"comm_id": m.CommID, "data": m.Data}
	if m.Data == nil {
		content["data"] = map[string]any{}
	}
	if m.Type == "comm_open" {
		content["target_name"] = m.Target
	}
	msg, err := s.k.srv.NewMessage(s.parent, m.Type, content)
	if err != nil {
		s.k.log.Error("comm message", "type", m.Type, "err", err)
		return
	}
	if m.Metadata != nil {
		msg.Metadata = m.Metadata
	}
	if err := s.k.srv.PublishMessage(msg); err != nil {
		s.k.log.Error("publish comm message", "type", m.Type, "err", err)
	}
}

func (s *iopubSink) Result(data display.Bundle, md map[string]any) {
	if s.silent || len(data) == 0 {
		return // a nil value has nothing to show, like None in IPython
	}
	if text, ok := data[display.MIMEText].(string); ok {
		s.k.recordOutput(s.count, text)
	}
	if md == nil {
		md = map[string]any{}
	}
	_ = s.k.srv.Publish(s.parent, "execute_result", map[string]any{"execution_count": s.count, "data": data, "metadata": md})
}

func (s *iopubSink) Input(prompt string, password bool) (string, error) {
	if !s.allowStdin {
		return "", fmt.Errorf("this front end does not accept input (allow_stdin is false)")
	}
	return s.k.srv.Input(context.Background(), s.parent, prompt, password)
}

// recordOutput remembers the result of execution n for history requests with output.
func (k *Kernel) recordOutput(n int, text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.history) - 1; i >= 0; i-- {
		if k.history[i].line == n {
			k.history[i].output = text
			return
		}
	}
}

// historyReply answers history_request: tail, range and search over this session's inputs.
func (k *Kernel) historyReply(req protocol.Request) map[string]any {
	var c struct {
		HistAccessType string `json:"hist_access_type"`
		N              int    `json:"n"`
		Start          int    `json:"start"`
		Stop           int    `json:"stop"`
		Pattern        string `json:"pattern"`
		Unique         bool   `json:"unique"`
		Output         bool   `json:"output"`
	}
	_ = req.Msg.DecodeContent(&c)
	k.mu.Lock()
	entries := slices.Clone(k.history)
	k.mu.Unlock()
	var sel []historyEntry
	switch c.HistAccessType {
	case "range":
		for _, e := range entries {
			if e.line >= c.Start && (c.Stop == 0 || e.line < c.Stop) {
				sel = append(sel, e)
			}
		}
	case "search":
		pattern := c.Pattern
		if pattern == "" {
			pattern = "*"
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if ok, _ := filepath.Match(pattern, e.input); ok || globContains(pattern, e.input) {
				if c.Unique && seen[e.input] {
					continue
				}
				seen[e.input] = true
				sel = append(sel, e)
			}
		}
		if c.N > 0 && len(sel) > c.N {
			sel = sel[len(sel)-c.N:]
		}
	default: // tail
		sel = entries
		if c.N > 0 && len(sel) > c.N {
			sel = sel[len(sel)-c.N:]
		}
	}
	hist := make([][]any, 0, len(sel))
	for _, e := range sel {
		if c.Output {
			hist = append(hist, []any{0, e.line, []string{e.input, e.output}})
		} else {
			hist = append(hist, []any{0, e.line, e.input})
		}
	}
	return map[string]any{"status": "ok", "history": hist}
}

// globContains matches IPython-style search patterns, where * and ? are wildcards anywhere
// in a multi-line input (filepath.Match stops at path separators and newlines do not matter).
func globContains(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	i := 0
	for j, p := range parts {
		if p == "" {
			continue
		}
		k := strings.Index(s[i:], p)
		if k < 0 || (j == 0 && k != 0) {
			return false
		}
		i += k + len(p)
	}
	return strings.HasSuffix(pattern, "*") || i == len(s)
}

// goplsIdleStart is how long after the session is ready gopls starts on its own when no
// cell has run yet; goplsWait bounds how long a completion or inspection waits for it.
const (
	goplsIdleStart = 2 * time.Second
	goplsWait      = 10 * time.Second
)

// wantGopls asks for gopls to start now (it is idempotent).
func (k *Kernel) wantGopls() {
	k.goplsOnce.Do(func() { close(k.goplsWanted) })
}

// startGopls starts gopls in the session module once it is wanted: after the first cell,
// at the first completion or inspection, or when the session has been ready and idle for
// goplsIdleStart. gopls type-checks the session's packages when it starts; on a small
// machine that competes with the first cell for the CPU, so it does not start with the
// kernel. goplsUp is closed once it started (or failed to).
func (k *Kernel) startGopls(ctx context.Context) {
	defer close(k.goplsUp)
	if k.opts.GoplsPath == "" {
		return
	}
	if _, err := os.Stat(k.opts.GoplsPath); err != nil {
		k.goplsMu.Lock()
		k.goplsErr = fmt.Errorf("gopls not found at %s: %w", k.opts.GoplsPath, err)
		k.goplsMu.Unlock()
		return
	}
	if err := k.engine.WaitReady(ctx); err != nil {
		return
	}
	idle := time.NewTimer(goplsIdleStart)
	defer idle.Stop()
wait:
	for {
		select {
		case <-k.goplsWanted:
			break wait
		case <-idle.C:
			k.mu.Lock()
			running := k.cancel != nil
			k.mu.Unlock()
			if !running {
				break wait
			}
		case <-ctx.Done():
			return
		}
	}
	c, err := gopls.Start(ctx, k.opts.GoplsPath, k.engine.Dir(), k.log)
	k.goplsMu.Lock()
	defer k.goplsMu.Unlock()
	if err != nil {
		k.goplsErr = err
		k.log.Warn("gopls did not start; completion is limited", "err", err)
		return
	}
	k.gopls = c
	// Warm it up so the first Tab press is fast.
	go func() {
		if path, content, off, ok := k.engine.CompletionFile("fmt.Pr", 6); ok {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			_, _ = c.Complete(wctx, path, content, off)
		}
	}()
}

// goplsFor returns gopls for a completion or inspection, starting it if needed and waiting
// for it (at most goplsWait): a request right after start-up is answered, not left empty.
func (k *Kernel) goplsFor(ctx context.Context) *gopls.Client {
	k.wantGopls()
	t := time.NewTimer(goplsWait)
	defer t.Stop()
	select {
	case <-k.goplsUp:
	case <-t.C:
		k.log.Info("gopls is still starting; answering without it")
	case <-ctx.Done():
	}
	return k.goplsClient()
}

func (k *Kernel) closeGopls() {
	k.goplsMu.Lock()
	c := k.gopls
	k.gopls = nil
	k.goplsMu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (k *Kernel) goplsClient() *gopls.Client {
	k.goplsMu.Lock()
	defer k.goplsMu.Unlock()
	return k.gopls
}

// runeToByte converts a cursor position in Unicode code points (what the Jupyter protocol
// sends since version 5.2) into a byte offset.
func runeToByte(s string, r int) int {
	i := 0
	for n := 0; n < r && i < len(s); n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

func byteToRune(s string, b int) int { return utf8.RuneCountInString(s[:min(max(b, 0), len(s))]) }

func (k *Kernel) complete(ctx context.Context, req protocol.Request) map[string]any {
	var c struct {
		Code      string `json:"code"`
		CursorPos int    `json:"cursor_pos"`
	}
	_ = req.Msg.DecodeContent(&c)
	cursor := runeToByte(c.Code, c.CursorPos)
	// The identifier being typed is what the matches replace.
	start := cursor
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(c.Code[:start])
		if !(r == '_' || r == '%' || isLetterOrDigit(r)) {
			break
		}
		start -= size
	}
	reply := map[string]any{"status": "ok", "matches": []string{}, "cursor_start": byteToRune(c.Code, start),
		"cursor_end": c.CursorPos, "metadata": map[string]any{}}
	word := c.Code[start:cursor]
	if strings.HasPrefix(word, "%") {
		if ms := magicCompletions(word); ms != nil {
			reply["matches"] = ms
		}
		return reply
	}
	client := k.goplsFor(ctx)
	if client == nil {
		k.log.Info("completion without gopls", "ready", k.engine.Ready())
		return reply
	}
	path, content, off, ok := k.engine.CompletionFile(c.Code, cursor)
	if !ok {
		return reply
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	items, err := client.Complete(cctx, path, content, off)
	if err != nil {
		k.log.Warn("completion", "err", err)
		return reply
	}
	defer func() {
		k.log.Debug("completion", "word", word, "items", len(items), "matches", len(reply["matches"].([]string)), "took", time.Since(t0).Round(time.Millisecond))
	}()
	var matches []string
	var types []map[string]any
	for _, it := range items {
		text := it.InsertText
		if text == "" {
			text = it.Label
		}
		if !strings.HasPrefix(text, word) {
			continue
		}
		matches = append(matches, text)
		types = append(types, map[string]any{"start": byteToRune(c.Code, start), "end": c.CursorPos, "text": text, "type": it.Kind, "signature": it.Detail})
	}
	if matches == nil {
		matches = []string{}
	}
	reply["matches"] = matches
	reply["metadata"] = map[string]any{"_jupyter_types_experimental": types}
	return reply
}

func isLetterOrDigit(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') || r > 127
}

func (k *Kernel) inspect(ctx context.Context, req protocol.Request) map[string]any {
	var c struct {
		Code      string `json:"code"`
		CursorPos int    `json:"cursor_pos"`
	}
	_ = req.Msg.DecodeContent(&c)
	reply := map[string]any{"status": "ok", "found": false, "data": map[string]any{}, "metadata": map[string]any{}}
	client := k.goplsFor(ctx)
	if client == nil {
		return reply
	}
	cursor := runeToByte(c.Code, c.CursorPos)
	// Inspect the identifier under or just before the cursor.
	if cursor > 0 && (cursor == len(c.Code) || !isLetterOrDigit(rune(c.Code[cursor]))) {
		cursor--
	}
	path, content, off, ok := k.engine.CompletionFile(c.Code, cursor)
	if !ok {
		return reply
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	doc, err := client.Hover(cctx, path, content, off)
	if err != nil || strings.TrimSpace(doc) == "" {
		return reply
	}
	reply["found"] = true
	reply["data"] = map[string]any{"text/plain": doc, "text/markdown": doc}
	return reply
}

// InstallArgv is the kernel's command line for kernel.json: this executable, "kernel",
// the repository, and Jupyter's connection-file placeholder.
func InstallArgv(exe, repoDir string) []string {
	return []string{exe, "kernel", "--repo", repoDir, "-f", "{connection_file}"}
}

// InstallKernelspec writes the gostudy kernelspec, which starts exe for the checkout repoDir,
// into the Jupyter data directory dataDir, or into the per-user one when dataDir is "". It
// returns the kernelspec's directory.
func InstallKernelspec(dataDir, exe, repoDir string) (string, error) {
	if dataDir == "" {
		d, err := kernelspec.UserDataDir()
		if err != nil {
			return "", err
		}
		dataDir = d
	}
	spec := kernelspec.Gostudy(InstallArgv(exe, repoDir))
	spec.Metadata = map[string]any{"debugger": false}
	return kernelspec.Install(dataDir, spec)
}

// FindGopls returns the gopls to use for a gostudy executable at exe: the one installed next
// to it (the set-up puts both in .bin), else the first on PATH, else "".
func FindGopls(exe string) string {
	cand := filepath.Join(filepath.Dir(exe), "gopls")
	if _, err := os.Stat(cand); err == nil {
		return cand
	}
	if p, err := exec.LookPath("gopls"); err == nil {
		return p
	}
	return ""
}
