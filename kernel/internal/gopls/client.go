// Package gopls is a minimal Language Server Protocol client for gopls, used by the
// kernel to answer Jupyter complete_request and inspect_request messages.
//
// A Client starts one gopls process for a module directory. Complete and Hover send the
// full content of a file (didOpen the first time, didChange afterwards), so the file on
// disk does not need to match, then ask gopls at a byte offset. The helpers in
// position.go convert between byte offsets, UTF-16 offsets (LSP) and code point offsets
// (Jupyter's cursor_pos).
package gopls

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gostudy/gostudy/kernel/internal/reaper"
)

const (
	// shutdownTimeout bounds the polite LSP shutdown request in Close.
	shutdownTimeout = 2 * time.Second
	// exitGrace is how long Close waits for gopls to exit before killing it.
	exitGrace = 3 * time.Second
)

// ErrClosed is returned by requests made after Close, or after gopls exited.
var ErrClosed = errors.New("gopls: client closed")

// Completion is one completion candidate.
type Completion struct {
	Label string
	// Kind is the LSP completion kind in lower case ("function", "variable", "keyword",
	// "module" for packages, ...), suitable for Jupyter's completion type.
	Kind       string
	Detail     string
	InsertText string
	// Documentation is the candidate's doc comment (markdown), when gopls sends one.
	Documentation string
	// ReplaceStart and ReplaceEnd are the byte offsets of the text that InsertText
	// replaces (e.g. the "Pr" of "fmt.Pr"); Jupyter's cursor_start and cursor_end.
	ReplaceStart, ReplaceEnd int
}

// Client talks to one gopls process. Its methods are safe for concurrent use; requests
// are handled one at a time.
type Client struct {
	log       *slog.Logger
	moduleDir string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	settings  map[string]any

	wmu sync.Mutex // serializes writes to gopls's stdin

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan *wireMessage
	dead    error // set when gopls's output ended; no new requests

	ready      chan struct{} // closed once initialize/initialized are done
	initErr    error
	readerDone chan struct{}
	bg         sync.WaitGroup
	initCancel context.CancelFunc

	turn chan struct{} // one Complete/Hover at a time (a semaphore that honours ctx)
	docs map[string]*document

	closeOnce sync.Once
	closeErr  error
}

// document is what gopls has been told about one open file.
type document struct {
	version int
	content string
}

// Start launches gopls (goplsPath) for the module in moduleDir and begins the LSP
// handshake in the background, so it returns at once; requests wait until gopls is
// ready. Cancelling ctx before gopls is initialized abandons the start (requests then
// fail); it has no effect later. log may be nil.
func Start(ctx context.Context, goplsPath, moduleDir string, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := filepath.Abs(moduleDir)
	if err != nil {
		return nil, fmt.Errorf("gopls: module dir: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("gopls: module dir %s is not a directory", dir)
	}
	path, err := exec.LookPath(goplsPath)
	if err != nil {
		return nil, fmt.Errorf("gopls: %w", err)
	}
	c := &Client{
		log:        log,
		moduleDir:  dir,
		pending:    make(map[int64]chan *wireMessage),
		ready:      make(chan struct{}),
		readerDone: make(chan struct{}),
		turn:       make(chan struct{}, 1),
		docs:       make(map[string]*document),
		settings: map[string]any{
			"usePlaceholders":           false,
			"completeUnimported":        true,
			"completionDocumentation":   true,
			"hoverKind":                 "FullDocumentation",
			"linksInHover":              false,
			"analysisProgressReporting": false,
			// The kernel never saves: skip diagnosing every edit, it costs CPU.
			"diagnosticsTrigger": "Save",
		},
	}
	c.cmd = exec.Command(path, "serve")
	c.cmd.Dir = dir
	c.cmd.Stderr = &logWriter{log: log}
	c.cmd.WaitDelay = exitGrace
	// Our own pipe for stdout: Cmd.StdoutPipe must not be read after Wait starts, and we
	// read until gopls exits.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("gopls: pipe: %w", err)
	}
	c.cmd.Stdout = outW
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("gopls: stdin pipe: %w", err)
	}
	// A session of its own and the kernel's guard: gopls and the go commands it runs end
	// with the kernel, however it ends.
	if err := reaper.Start(c.cmd); err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("gopls: start %s: %w", path, err)
	}
	outW.Close()
	go c.readLoop(outR)

	initCtx, cancel := context.WithCancel(context.Background())
	c.initCancel = cancel
	stop := context.AfterFunc(ctx, cancel)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer stop()
		c.initErr = c.initialize(initCtx)
		if c.initErr != nil {
			log.Warn("gopls initialization failed", "err", c.initErr)
		}
		close(c.ready)
	}()
	return c, nil
}

// logWriter forwards gopls's stderr to the logger, line by line.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

// Write logs each complete line of p.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.log.Debug("gopls stderr", "line", string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func fileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

func (c *Client) initialize(ctx context.Context) error {
	params := map[string]any{
		"processId":  os.Getpid(),
		"clientInfo": map[string]any{"name": "gostudy"},
		"rootUri":    fileURI(c.moduleDir),
		"workspaceFolders": []any{
			map[string]any{"uri": fileURI(c.moduleDir), "name": filepath.Base(c.moduleDir)},
		},
		"capabilities": map[string]any{
			"general": map[string]any{"positionEncodings": []string{"utf-16"}},
			"textDocument": map[string]any{
				"synchronization": map[string]any{"dynamicRegistration": false},
				"completion": map[string]any{
					"completionItem": map[string]any{
						"snippetSupport":      false,
						"documentationFormat": []string{"markdown", "plaintext"},
					},
				},
				"hover": map[string]any{"contentFormat": []string{"markdown", "plaintext"}},
			},
			"workspace": map[string]any{"configuration": true, "workspaceFolders": true},
		},
		"initializationOptions": c.settings,
	}
	var result json.RawMessage
	if err := c.call(ctx, "initialize", params, &result); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if err := c.notify("initialized", map[string]any{}); err != nil {
		return fmt.Errorf("initialized: %w", err)
	}
	return nil
}

// readLoop dispatches everything gopls writes until its stdout closes.
func (c *Client) readLoop(out io.ReadCloser) {
	defer close(c.readerDone)
	defer out.Close()
	r := bufio.NewReader(out)
	var err error
	for {
		var m *wireMessage
		if m, err = readMessage(r); err != nil {
			break
		}
		switch {
		case m.Method != "" && len(m.ID) > 0:
			c.serverRequest(m)
		case m.Method != "":
			c.serverNotification(m)
		default:
			c.response(m)
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		err = ErrClosed
	} else {
		err = fmt.Errorf("gopls output: %w", err)
	}
	c.mu.Lock()
	c.dead = err
	for id, ch := range c.pending {
		ch <- nil
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

func (c *Client) response(m *wireMessage) {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	if err != nil {
		c.log.Warn("gopls response with unexpected id", "id", string(m.ID))
		return
	}
	c.mu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// serverRequest answers the requests gopls makes of its client.
func (c *Client) serverRequest(m *wireMessage) {
	reply := &wireMessage{ID: m.ID}
	switch m.Method {
	case "workspace/configuration":
		var p struct {
			Items []struct {
				Section string `json:"section"`
			} `json:"items"`
		}
		_ = json.Unmarshal(m.Params, &p)
		res := make([]any, len(p.Items))
		for i, it := range p.Items {
			if it.Section == "gopls" || it.Section == "" {
				res[i] = c.settings
			}
		}
		reply.Result, _ = json.Marshal(res)
	case "client/registerCapability", "client/unregisterCapability",
		"window/workDoneProgress/create", "window/showMessageRequest",
		"workspace/diagnostic/refresh", "workspace/semanticTokens/refresh",
		"workspace/inlayHint/refresh", "workspace/codeLens/refresh":
		reply.Result = json.RawMessage("null")
	case "workspace/applyEdit":
		reply.Result = json.RawMessage(`{"applied":false}`)
	default:
		reply.Error = &rpcError{Code: codeMethodNotFound, Message: "gostudy does not handle " + m.Method}
	}
	if err := c.write(reply); err != nil {
		c.log.Debug("answering gopls request failed", "method", m.Method, "err", err)
	}
}

func (c *Client) serverNotification(m *wireMessage) {
	switch m.Method {
	case "window/logMessage", "window/showMessage":
		var p struct {
			Type    int    `json:"type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.Type == 1 { // Error
			c.log.Warn("gopls", "message", p.Message)
		} else {
			c.log.Debug("gopls", "message", p.Message)
		}
	}
	// Diagnostics, progress and telemetry are not used.
}

func (c *Client) write(m *wireMessage) error {
	b, err := frame(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Method, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.stdin.Write(b); err != nil {
		return fmt.Errorf("write to gopls: %w", err)
	}
	return nil
}

func (c *Client) notify(method string, params any) error {
	p, err := marshalParams(params)
	if err != nil {
		return fmt.Errorf("encode %s params: %w", method, err)
	}
	return c.write(&wireMessage{Method: method, Params: p})
}

// marshalParams encodes params; nil means the message has no params at all (shutdown
// and exit take none).
func marshalParams(params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	return json.Marshal(params)
}

// call sends a request and waits for its response, or for ctx, or for gopls to die.
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	p, err := marshalParams(params)
	if err != nil {
		return fmt.Errorf("encode %s params: %w", method, err)
	}
	ch := make(chan *wireMessage, 1)
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return c.dead
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(&wireMessage{ID: json.RawMessage(strconv.FormatInt(id, 10)), Method: method, Params: p}); err != nil {
		c.forget(id)
		return err
	}
	select {
	case m := <-ch:
		if m == nil {
			c.mu.Lock()
			err := c.dead
			c.mu.Unlock()
			return err
		}
		if m.Error != nil {
			return m.Error
		}
		if result != nil && len(m.Result) > 0 {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return fmt.Errorf("decode %s result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		_ = c.notify("$/cancelRequest", map[string]any{"id": id})
		return ctx.Err()
	}
}

func (c *Client) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// begin waits for gopls to be initialized and for this caller's turn.
func (c *Client) begin(ctx context.Context) error {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return fmt.Errorf("waiting for gopls to start: %w", ctx.Err())
	}
	if c.initErr != nil {
		return c.initErr
	}
	select {
	case c.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) end() { <-c.turn }

// sync makes gopls see content as the text of path and returns its URI.
func (c *Client) sync(path string, content []byte) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.moduleDir, path)
	}
	uri := fileURI(path)
	d := c.docs[uri]
	switch {
	case d == nil:
		d = &document{version: 1, content: string(content)}
		err := c.notify("textDocument/didOpen", map[string]any{
			"textDocument": map[string]any{"uri": uri, "languageId": "go", "version": d.version, "text": d.content},
		})
		if err != nil {
			return "", err
		}
		c.docs[uri] = d
	case d.content != string(content):
		d.version++
		d.content = string(content)
		err := c.notify("textDocument/didChange", map[string]any{
			"textDocument":   map[string]any{"uri": uri, "version": d.version},
			"contentChanges": []any{map[string]any{"text": d.content}},
		})
		if err != nil {
			return "", err
		}
	}
	return uri, nil
}

type lspRange struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

type completionItem struct {
	Label         string          `json:"label"`
	Kind          int             `json:"kind"`
	Detail        string          `json:"detail"`
	InsertText    string          `json:"insertText"`
	Documentation json.RawMessage `json:"documentation"`
	TextEdit      *struct {
		Range   *lspRange `json:"range"`
		Insert  *lspRange `json:"insert"`
		Replace *lspRange `json:"replace"`
		NewText string    `json:"newText"`
	} `json:"textEdit"`
}

// Complete returns gopls's completion candidates at byte offset offset of the file at
// path (relative to the module directory, or absolute), whose full content is content.
// The first call waits, with ctx, for gopls to load the module.
func (c *Client) Complete(ctx context.Context, path string, content []byte, offset int) ([]Completion, error) {
	if err := c.begin(ctx); err != nil {
		return nil, fmt.Errorf("complete: %w", err)
	}
	defer c.end()
	uri, err := c.sync(path, content)
	if err != nil {
		return nil, fmt.Errorf("complete: %w", err)
	}
	offset = clamp(offset, len(content))
	var raw json.RawMessage
	err = c.call(ctx, "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": uri},
		"position":     OffsetToPosition(content, offset),
		"context":      map[string]any{"triggerKind": 1},
	}, &raw)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", filepath.Base(path), err)
	}
	var items []completionItem
	var list struct {
		Items []completionItem `json:"items"`
	}
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '[':
		err = json.Unmarshal(raw, &items)
	default:
		err = json.Unmarshal(raw, &list)
		items = list.Items
	}
	if err != nil {
		return nil, fmt.Errorf("complete: decode result: %w", err)
	}
	wordStart := identStart(content, offset)
	out := make([]Completion, 0, len(items))
	for _, it := range items {
		cm := Completion{
			Label:         it.Label,
			Kind:          kindName(it.Kind),
			Detail:        it.Detail,
			InsertText:    it.InsertText,
			Documentation: markup(it.Documentation),
			ReplaceStart:  wordStart,
			ReplaceEnd:    offset,
		}
		if te := it.TextEdit; te != nil {
			cm.InsertText = te.NewText
			rng := te.Range
			if rng == nil {
				rng = te.Replace
			}
			if rng != nil {
				cm.ReplaceStart = PositionToOffset(content, rng.Start)
				cm.ReplaceEnd = PositionToOffset(content, rng.End)
			}
		}
		if cm.InsertText == "" {
			cm.InsertText = it.Label
		}
		out = append(out, cm)
	}
	return out, nil
}

// identStart returns where the identifier ending at offset begins.
func identStart(content []byte, offset int) int {
	i := offset
	for i > 0 {
		r, size := utf8.DecodeLastRune(content[:i])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i -= size
	}
	return i
}

// Hover returns gopls's documentation (markdown) for the identifier at byte offset
// offset of the file at path, or "" when there is nothing to show there.
func (c *Client) Hover(ctx context.Context, path string, content []byte, offset int) (string, error) {
	if err := c.begin(ctx); err != nil {
		return "", fmt.Errorf("hover: %w", err)
	}
	defer c.end()
	uri, err := c.sync(path, content)
	if err != nil {
		return "", fmt.Errorf("hover: %w", err)
	}
	var res *struct {
		Contents json.RawMessage `json:"contents"`
	}
	err = c.call(ctx, "textDocument/hover", map[string]any{
		"textDocument": map[string]any{"uri": uri},
		"position":     OffsetToPosition(content, clamp(offset, len(content))),
	}, &res)
	if err != nil {
		return "", fmt.Errorf("hover %s: %w", filepath.Base(path), err)
	}
	if res == nil {
		return "", nil
	}
	return markup(res.Contents), nil
}

// markup flattens the forms LSP uses for documentation: a string, MarkupContent
// {kind, value}, a MarkedString {language, value}, or a list of those.
func markup(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Kind     string `json:"kind"`
		Language string `json:"language"`
		Value    string `json:"value"`
	}
	if raw[0] == '{' && json.Unmarshal(raw, &obj) == nil {
		if obj.Language != "" {
			return "```" + obj.Language + "\n" + obj.Value + "\n```"
		}
		return obj.Value
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, p := range list {
			if v := markup(p); v != "" {
				parts = append(parts, v)
			}
		}
		return strings.Join(parts, "\n\n")
	}
	return ""
}

// kindNames are LSP's CompletionItemKind values, 1-based.
var kindNames = []string{"text", "method", "function", "constructor", "field", "variable",
	"class", "interface", "module", "property", "unit", "value", "enum", "keyword",
	"snippet", "color", "file", "reference", "folder", "enummember", "constant", "struct",
	"event", "operator", "typeparameter"}

func kindName(k int) string {
	if k >= 1 && k <= len(kindNames) {
		return kindNames[k-1]
	}
	return ""
}

// Close shuts gopls down: a polite shutdown/exit, then, after a grace period, a kill
// of gopls and of every process it started. When Close returns no gopls process
// remains. It is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Client) close() error {
	initialized := false
	select {
	case <-c.ready:
		initialized = c.initErr == nil
	default:
		c.initCancel() // abandon a handshake still in progress
	}
	if initialized {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := c.call(ctx, "shutdown", nil, nil); err != nil {
			c.log.Debug("gopls shutdown request", "err", err)
		}
		cancel()
		_ = c.notify("exit", nil)
	}
	c.stdin.Close()
	select {
	case <-c.readerDone: // gopls closed its output: it exited
	case <-time.After(exitGrace):
		c.log.Warn("gopls did not exit; killing it")
	}
	// Kill before reaping: until Wait, gopls's pid (its session id) cannot be reused, so
	// this cannot hit an unrelated process. It also ends any go command gopls left behind.
	reaper.Kill(c.cmd.Process.Pid)
	err := c.cmd.Wait()
	<-c.readerDone
	c.bg.Wait()
	c.initCancel()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("gopls: wait: %w", err)
	}
	return nil
}
