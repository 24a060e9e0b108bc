package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/uuid"

	"github.com/gostudy/gostudy/kernel/internal/protocol"
)

// guard is the deadlock guard for every wait in these tests; no test depends on it
// being short.
const guard = 20 * time.Second

const testKey = "a0436f6c-1916-498b-8eb9-e81ab9368e84"

// testLogger writes server logs into the test log, so dropped messages are visible.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// logRecorder keeps the messages of warnings the server logs.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(p))
	return len(p), nil
}

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func listen(t *testing.T, key string, log *slog.Logger) *protocol.Server {
	t.Helper()
	if log == nil {
		log = testLogger(t)
	}
	info := protocol.ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", Key: key, SignatureScheme: "hmac-sha256"}
	srv, err := protocol.Listen(context.Background(), info, log)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	got := srv.Info()
	for name, p := range map[string]int{"shell": got.ShellPort, "control": got.ControlPort, "iopub": got.IOPubPort, "stdin": got.StdinPort, "hb": got.HBPort} {
		if p == 0 {
			t.Fatalf("%s port not reported", name)
		}
	}
	return srv
}

// client is one zmq4 socket playing a frontend.
type client struct {
	t    *testing.T
	sock zmq4.Socket
	key  string
	in   chan zmq4.Msg
}

func dial(t *testing.T, kind zmq4.SocketType, port int, key string, id string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := []zmq4.Option{zmq4.WithDialerRetry(50 * time.Millisecond)}
	if id != "" {
		opts = append(opts, zmq4.WithID(zmq4.SocketIdentity(id)))
	}
	var sock zmq4.Socket
	switch kind {
	case zmq4.Dealer:
		sock = zmq4.NewDealer(ctx, opts...)
	case zmq4.Sub:
		sock = zmq4.NewSub(ctx, opts...)
	case zmq4.Req:
		sock = zmq4.NewReq(ctx, opts...)
	default:
		t.Fatalf("unsupported client socket %v", kind)
	}
	if err := sock.Dial("tcp://127.0.0.1:" + itoa(port)); err != nil {
		t.Fatalf("dial %v: %v", kind, err)
	}
	c := &client{t: t, sock: sock, key: key, in: make(chan zmq4.Msg, 100)}
	if kind == zmq4.Sub {
		if err := sock.SetOption(zmq4.OptionSubscribe, ""); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
	}
	if kind != zmq4.Req {
		// A zmq4 REQ socket fails Recv before its first Send, so REQ clients receive
		// synchronously (see TestHeartbeatEcho).
		go func() {
			for {
				m, err := sock.Recv()
				if err != nil {
					return
				}
				c.in <- m
			}
		}()
	}
	t.Cleanup(func() { cancel(); sock.Close() })
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func newRequest(msgType string, content any) *protocol.Message {
	c, err := protocol.MarshalContent(content)
	if err != nil {
		panic(err)
	}
	return &protocol.Message{
		Header: protocol.Header{
			MsgID: uuid.NewString(), Session: "client-session", Username: "tester",
			Date: time.Now().UTC().Format(time.RFC3339Nano), MsgType: msgType, Version: "5.3",
		},
		Content: c,
	}
}

func (c *client) sendFrames(frames [][]byte) {
	c.t.Helper()
	if err := c.sock.Send(zmq4.NewMsgFrom(frames...)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// send signs m with key and sends it; it returns the frames sent.
func (c *client) send(m *protocol.Message, key string) [][]byte {
	c.t.Helper()
	frames, err := protocol.EncodeFrames(m, key, "hmac-sha256")
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	c.sendFrames(frames)
	return frames
}

func (c *client) recvRaw() zmq4.Msg {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-time.After(guard):
		c.t.Fatalf("no message received (deadlock guard)")
	}
	return zmq4.Msg{}
}

// recv receives one message and checks its signature with the client's key.
func (c *client) recv() (*protocol.Message, [][]byte) {
	c.t.Helper()
	raw := c.recvRaw()
	m, err := protocol.DecodeFrames(raw.Frames, c.key, "hmac-sha256")
	if err != nil {
		c.t.Fatalf("kernel message does not verify: %v", err)
	}
	return m, raw.Frames
}

// kernelInfoRoundTrip sends a kernel_info_request from one client, answers it, and checks
// that the other (often the same) client receives the reply to it.
func kernelInfoRoundTrip(t *testing.T, srv *protocol.Server, from, to *client) {
	t.Helper()
	req := newRequest("kernel_info_request", nil)
	from.send(req, testKey)
	r := nextRequest(t, srv)
	if err := srv.Reply(r, "kernel_info_reply", map[string]string{"status": "ok"}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if m, _ := to.recv(); m.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("got a reply to %q, want one to %q", m.ParentHeader.MsgID, req.Header.MsgID)
	}
}

func nextRequest(t *testing.T, srv *protocol.Server) protocol.Request {
	t.Helper()
	select {
	case r, ok := <-srv.Requests():
		if !ok {
			t.Fatalf("requests channel closed")
		}
		return r
	case <-time.After(guard):
		t.Fatalf("no request delivered (deadlock guard)")
	}
	return protocol.Request{}
}

func TestShellRoundTrip(t *testing.T) {
	srv := listen(t, testKey, nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "frontend-1")

	req := newRequest("kernel_info_request", map[string]any{})
	shell.send(req, testKey)

	r := nextRequest(t, srv)
	if r.Channel != protocol.Shell {
		t.Errorf("channel = %v, want shell", r.Channel)
	}
	if r.Msg.Header != req.Header {
		t.Errorf("header = %+v, want %+v", r.Msg.Header, req.Header)
	}
	if len(r.Msg.Identities) != 1 || string(r.Msg.Identities[0]) != "frontend-1" {
		t.Errorf("identities = %q, want [frontend-1]", r.Msg.Identities)
	}
	if err := srv.Reply(r, "kernel_info_reply", map[string]any{"status": "ok", "protocol_version": "5.3"}); err != nil {
		t.Fatalf("Reply: %v", err)
	}

	reply, frames := shell.recv()
	if !bytes.Equal(frames[0], []byte("<IDS|MSG>")) {
		t.Errorf("reply starts with %q, want the delimiter (the ROUTER identity must be consumed)", frames[0])
	}
	if reply.Header.MsgType != "kernel_info_reply" || reply.Header.Version != "5.3" {
		t.Errorf("reply header = %+v", reply.Header)
	}
	if reply.Header.Session != srv.Session() || reply.Header.MsgID == "" || reply.Header.MsgID == req.Header.MsgID {
		t.Errorf("reply header ids = %+v", reply.Header)
	}
	if _, err := time.Parse(time.RFC3339Nano, reply.Header.Date); err != nil {
		t.Errorf("reply date %q is not ISO 8601: %v", reply.Header.Date, err)
	}
	if reply.ParentHeader != req.Header {
		t.Errorf("parent header = %+v, want the request header %+v", reply.ParentHeader, req.Header)
	}
	var content map[string]any
	if err := reply.DecodeContent(&content); err != nil || content["status"] != "ok" {
		t.Errorf("content = %v (%v)", content, err)
	}
	if string(frames[4]) != "{}" {
		t.Errorf("metadata frame = %s, want {}", frames[4])
	}
}

func TestParentHeaderKeepsUnknownFields(t *testing.T) {
	srv := listen(t, testKey, nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "f")
	// A header with a field this package does not model must come back verbatim.
	h := `{"msg_id":"m-1","session":"s","username":"u","date":"2024-01-02T03:04:05.000006Z","msg_type":"execute_request","version":"5.5","subshell_id":null}`
	m := newRequest("execute_request", map[string]any{"code": "1"})
	frames, _ := protocol.EncodeFrames(m, testKey, "hmac-sha256")
	frames[2] = []byte(h)
	frames[1] = hmacHex(testKey, frames[2:6]...)
	shell.sendFrames(frames)
	r := nextRequest(t, srv)
	if err := srv.Reply(r, "execute_reply", map[string]any{"status": "ok"}); err != nil {
		t.Fatal(err)
	}
	_, got := shell.recv()
	if string(got[3]) != h {
		t.Errorf("parent_header frame = %s, want %s", got[3], h)
	}
}

func TestControlWhileShellPending(t *testing.T) {
	srv := listen(t, testKey, nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")
	control := dial(t, zmq4.Dealer, srv.Info().ControlPort, testKey, "fe")

	exec := newRequest("execute_request", map[string]any{"code": "for {}"})
	shell.send(exec, testKey)
	busy := nextRequest(t, srv) // the "running" shell request: not answered yet

	intr := newRequest("interrupt_request", map[string]any{})
	control.send(intr, testKey)
	r := nextRequest(t, srv)
	if r.Channel != protocol.Control || r.Msg.Header.MsgType != "interrupt_request" {
		t.Fatalf("got %v %s, want control interrupt_request", r.Channel, r.Msg.Header.MsgType)
	}
	if err := srv.Reply(r, "interrupt_reply", map[string]any{"status": "ok"}); err != nil {
		t.Fatal(err)
	}
	rep, _ := control.recv()
	if rep.Header.MsgType != "interrupt_reply" || rep.ParentHeader.MsgID != intr.Header.MsgID {
		t.Errorf("control reply = %s parent %s", rep.Header.MsgType, rep.ParentHeader.MsgID)
	}
	if err := srv.Reply(busy, "execute_reply", map[string]any{"status": "abort"}); err != nil {
		t.Fatal(err)
	}
	rep, _ = shell.recv()
	if rep.ParentHeader.MsgID != exec.Header.MsgID {
		t.Errorf("shell reply parent = %s, want %s", rep.ParentHeader.MsgID, exec.Header.MsgID)
	}
}

// waitSubscribed publishes probes until the subscriber sees one: a SUB socket's
// subscription reaches the kernel some time after it connects (the ZMQ "slow joiner").
func waitSubscribed(t *testing.T, srv *protocol.Server, sub *client) {
	t.Helper()
	deadline := time.After(guard)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := srv.Publish(nil, "probe", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.in:
			// Drain the probes still in flight: probes and later messages share one
			// connection, so after this status round trip no probe can follow.
			if err := srv.Status(nil, "starting"); err != nil {
				t.Fatal(err)
			}
			for {
				m, _ := sub.recv()
				if m.Header.MsgType == "status" {
					return
				}
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("subscriber never received a probe (deadlock guard)")
		}
	}
}

func TestIOPubPublish(t *testing.T) {
	srv := listen(t, testKey, nil)
	sub := dial(t, zmq4.Sub, srv.Info().IOPubPort, testKey, "")
	waitSubscribed(t, srv, sub)

	parent := newRequest("execute_request", map[string]any{"code": "print(1)"})
	if err := srv.Publish(parent, "stream", map[string]string{"name": "stdout", "text": "héllo\n"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Status(parent, "idle"); err != nil {
		t.Fatal(err)
	}
	m, frames := sub.recv()
	if string(frames[0]) != "stream" {
		t.Errorf("topic frame = %q, want stream", frames[0])
	}
	if m.Header.MsgType != "stream" || m.ParentHeader != parent.Header {
		t.Errorf("got %s with parent %+v", m.Header.MsgType, m.ParentHeader)
	}
	var c map[string]string
	if err := m.DecodeContent(&c); err != nil || c["text"] != "héllo\n" {
		t.Errorf("content %v (%v)", c, err)
	}
	m, _ = sub.recv()
	var st map[string]string
	if err := m.DecodeContent(&st); err != nil || m.Header.MsgType != "status" || st["execution_state"] != "idle" {
		t.Errorf("status message %s %v (%v)", m.Header.MsgType, st, err)
	}
	// A message without parent carries an empty parent header.
	if err := srv.Publish(nil, "stream", map[string]string{"name": "stderr", "text": "x"}); err != nil {
		t.Fatal(err)
	}
	_, frames = sub.recv()
	if string(frames[4]) != "{}" { // topic, delimiter, signature, header, parent
		t.Errorf("parent_header of an orphan message = %s, want {}", frames[4])
	}
}

func TestIOPubTopicFilter(t *testing.T) {
	srv := listen(t, testKey, nil)
	// This subscriber only wants status messages.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := zmq4.NewSub(ctx)
	defer sock.Close()
	if err := sock.Dial("tcp://127.0.0.1:" + itoa(srv.Info().IOPubPort)); err != nil {
		t.Fatal(err)
	}
	if err := sock.SetOption(zmq4.OptionSubscribe, "status"); err != nil {
		t.Fatal(err)
	}
	got := make(chan zmq4.Msg, 100)
	go func() {
		for {
			m, err := sock.Recv()
			if err != nil {
				return
			}
			got <- m
		}
	}()
	deadline := time.After(guard)
	for received := false; !received; {
		// Each round: a stream (filtered out) then a status (delivered).
		if err := srv.Publish(nil, "stream", map[string]string{"name": "stdout", "text": "no"}); err != nil {
			t.Fatal(err)
		}
		if err := srv.Status(nil, "idle"); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if string(m.Frames[0]) != "status" {
				t.Fatalf("subscriber to status got topic %q", m.Frames[0])
			}
			received = true
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("no status message (deadlock guard)")
		}
	}
}

func TestHeartbeatEcho(t *testing.T) {
	srv := listen(t, testKey, nil)
	hb := dial(t, zmq4.Req, srv.Info().HBPort, testKey, "")
	for _, ping := range []string{"ping", "второй"} {
		if err := hb.sock.Send(zmq4.NewMsgString(ping)); err != nil {
			t.Fatal(err)
		}
		go func() {
			if m, err := hb.sock.Recv(); err == nil {
				hb.in <- m
			}
		}()
		m := hb.recvRaw()
		if len(m.Frames) != 1 || string(m.Frames[0]) != ping {
			t.Errorf("heartbeat answered %q, want %q", m.Frames, ping)
		}
	}
}

func TestBadMessagesDropped(t *testing.T) {
	rec := &logRecorder{}
	srv := listen(t, testKey, slog.New(slog.NewTextHandler(rec, nil)))
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")

	// 1. Signed with the wrong key.
	wrong := newRequest("execute_request", map[string]any{"code": "wrong key"})
	shell.send(wrong, "not-the-key")
	// 2. Unsigned.
	unsigned := newRequest("execute_request", map[string]any{"code": "unsigned"})
	shell.send(unsigned, "")
	// 3. A valid message whose content was altered after signing.
	tampered := newRequest("execute_request", map[string]any{"code": "1"})
	frames, _ := protocol.EncodeFrames(tampered, testKey, "hmac-sha256")
	frames[5] = []byte(`{"code":"rm -rf"}`)
	shell.sendFrames(frames)
	// 4. Garbage frames: no delimiter, too few frames, binary junk.
	shell.sendFrames([][]byte{[]byte("hello")})
	shell.sendFrames([][]byte{[]byte("<IDS|MSG>"), []byte("sig"), []byte("{}")})
	shell.sendFrames([][]byte{{0xff, 0x00, 0xfe}, []byte("<IDS|MSG>"), {}, {0x01}, {0x02}, {0x03}, {0x04}})
	// 5. Correctly signed but not JSON, and content that is not an object.
	bad := [][]byte{[]byte("{not json"), []byte("{}"), []byte("{}"), []byte("{}")}
	shell.sendFrames(append([][]byte{[]byte("<IDS|MSG>"), hmacHex(testKey, bad...)}, bad...))
	h, _ := json.Marshal(newRequest("execute_request", nil).Header)
	arr := [][]byte{h, []byte("{}"), []byte("{}"), []byte("[1,2]")}
	shell.sendFrames(append([][]byte{[]byte("<IDS|MSG>"), hmacHex(testKey, arr...)}, arr...))
	// 6. A good message, then the same frames replayed.
	good := newRequest("execute_request", map[string]any{"code": "good"})
	replayed := shell.send(good, testKey)
	shell.sendFrames(replayed)
	// 7. A second good message.
	good2 := newRequest("execute_request", map[string]any{"code": "good2"})
	shell.send(good2, testKey)

	// Messages on one connection are handled in order, so anything not dropped would
	// arrive before good2.
	if r := nextRequest(t, srv); r.Msg.Header.MsgID != good.Header.MsgID {
		t.Fatalf("first delivered request is %q, want the good one", r.Msg.Content)
	}
	if r := nextRequest(t, srv); r.Msg.Header.MsgID != good2.Header.MsgID {
		t.Fatalf("second delivered request is %q, want good2 (replay must be dropped)", r.Msg.Content)
	}
	if n := rec.count("dropping message"); n != 9 {
		t.Errorf("logged %d dropped messages, want 9:\n%s", n, strings.Join(rec.msgs, ""))
	}
	if rec.count(testKey) != 0 {
		t.Errorf("the key leaked into the log")
	}
}

func TestGarbageConnection(t *testing.T) {
	srv := listen(t, testKey, nil)
	// A raw TCP client that does not speak ZMTP at all.
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(srv.Info().ShellPort))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 10))
	c.Close()
	// The kernel still serves real frontends.
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")
	req := newRequest("kernel_info_request", nil)
	shell.send(req, testKey)
	if r := nextRequest(t, srv); r.Msg.Header.MsgID != req.Header.MsgID {
		t.Fatalf("unexpected request %+v", r.Msg.Header)
	}
}

func TestEmptyKeyDisablesSigning(t *testing.T) {
	srv := listen(t, "", nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, "", "fe")
	req := newRequest("kernel_info_request", nil)
	frames := shell.send(req, "")
	if len(frames[1]) != 0 {
		t.Fatalf("client signed with an empty key")
	}
	r := nextRequest(t, srv)
	if err := srv.Reply(r, "kernel_info_reply", map[string]string{"status": "ok"}); err != nil {
		t.Fatal(err)
	}
	_, got := shell.recv()
	if len(got[1]) != 0 {
		t.Errorf("reply signature = %q, want empty when the key is empty", got[1])
	}
}

func TestStdinInput(t *testing.T) {
	rec := &logRecorder{}
	srv := listen(t, testKey, slog.New(slog.NewTextHandler(rec, nil)))
	// jupyter_client gives its shell and stdin sockets the same identity.
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "session-bytes")
	stdin := dial(t, zmq4.Dealer, srv.Info().StdinPort, testKey, "session-bytes")
	// A second frontend on stdin must not receive the request.
	other := dial(t, zmq4.Dealer, srv.Info().StdinPort, testKey, "someone-else")
	// A client's Dial returns when its side of the handshake is done, a moment before the
	// server registers the peer: a stray input_reply from each, which the server can only
	// log once it reads from that peer, shows both are registered.
	for i, c := range []*client{stdin, other} {
		c.send(newRequest("input_reply", map[string]string{"value": "stray"}), testKey)
		deadline := time.Now().Add(guard)
		for rec.count("does not answer a pending input_request") < i+1 {
			if time.Now().After(deadline) {
				t.Fatal("stdin peer never registered (deadlock guard)")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	exec := newRequest("execute_request", map[string]any{"code": "x := input()", "allow_stdin": true})
	shell.send(exec, testKey)
	r := nextRequest(t, srv)

	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := srv.Input(context.Background(), r.Msg, "Your name: ", true)
		done <- result{v, err}
	}()
	ir, _ := stdin.recv()
	var c struct {
		Prompt   string `json:"prompt"`
		Password bool   `json:"password"`
	}
	if err := ir.DecodeContent(&c); err != nil || ir.Header.MsgType != "input_request" || c.Prompt != "Your name: " || !c.Password {
		t.Fatalf("input_request = %s %+v (%v)", ir.Header.MsgType, c, err)
	}
	if ir.ParentHeader.MsgID != exec.Header.MsgID {
		t.Errorf("input_request parent = %s, want the execute request", ir.ParentHeader.MsgID)
	}
	reply := newRequest("input_reply", map[string]string{"value": "Gopher ü"})
	reply.ParentHeader = ir.Header
	stdin.send(reply, testKey)
	select {
	case res := <-done:
		if res.err != nil || res.v != "Gopher ü" {
			t.Errorf("Input = %q, %v", res.v, res.err)
		}
	case <-time.After(guard):
		t.Fatal("Input did not return (deadlock guard)")
	}

	// Cancelling the context ends a pending Input.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		v, err := srv.Input(ctx, r.Msg, "again: ", false)
		done <- result{v, err}
	}()
	stdin.recv()
	cancel()
	select {
	case res := <-done:
		if res.err == nil {
			t.Errorf("Input after cancel returned %q without error", res.v)
		}
	case <-time.After(guard):
		t.Fatal("Input ignored its context (deadlock guard)")
	}
}

func TestConcurrentPublishAndReply(t *testing.T) {
	srv := listen(t, testKey, nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")
	sub := dial(t, zmq4.Sub, srv.Info().IOPubPort, testKey, "")
	waitSubscribed(t, srv, sub)

	req := newRequest("execute_request", map[string]any{"code": "go"})
	shell.send(req, testKey)
	r := nextRequest(t, srv)

	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := srv.Publish(r.Msg, "stream", map[string]any{"name": "stdout", "text": jsonString([]int{w, i})}); err != nil {
					t.Error(err)
				}
				if err := srv.Reply(r, "comm_info_reply", map[string]any{"status": "ok", "n": w*each + i}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for range workers * each {
		m, _ := sub.recv()
		var c map[string]string
		if err := m.DecodeContent(&c); err != nil {
			t.Fatal(err)
		}
		seen[c["text"]] = true
		rep, _ := shell.recv()
		if rep.ParentHeader.MsgID != req.Header.MsgID {
			t.Fatalf("reply parent %s", rep.ParentHeader.MsgID)
		}
	}
	if len(seen) != workers*each {
		t.Errorf("received %d distinct stream messages, want %d", len(seen), workers*each)
	}
}

// protocolGoroutines lists the goroutines running code of package protocol.
func protocolGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gostudy/kernel/protocol.(") || strings.Contains(g, "gostudy/kernel/protocol.Listen") {
			out = append(out, g)
		}
	}
	return out
}

func TestCloseLeavesNothing(t *testing.T) {
	if n := len(protocolGoroutines()); n != 0 {
		// Earlier tests' servers are closed by Cleanup after each test returns, so
		// none should remain here.
		t.Fatalf("%d protocol goroutines before the test:\n%s", n, strings.Join(protocolGoroutines(), "\n\n"))
	}
	info := protocol.ConnectionInfo{IP: "127.0.0.1", Key: testKey}
	srv, err := protocol.Listen(context.Background(), info, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")
	sub := dial(t, zmq4.Sub, srv.Info().IOPubPort, testKey, "")
	dial(t, zmq4.Req, srv.Info().HBPort, testKey, "")
	waitSubscribed(t, srv, sub)
	// A shell request the kernel never takes from Requests, and a client that
	// vanishes without reading.
	shell.send(newRequest("execute_request", map[string]any{"code": "1"}), testKey)
	shell.send(newRequest("execute_request", map[string]any{"code": "2"}), testKey)
	gone, err := net.Dial("tcp", "127.0.0.1:"+itoa(srv.Info().ControlPort))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	for range 50 {
		_ = srv.Publish(nil, "stream", map[string]string{"name": "stdout", "text": strings.Repeat("x", 10000)})
	}

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(guard):
		t.Fatalf("Close hung (deadlock guard)\n%s", strings.Join(protocolGoroutines(), "\n\n"))
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Close has waited for every goroutine; one that just ran its final deferred call
	// may still be on its way out, so poll until the runtime has removed it.
	deadline := time.Now().Add(guard)
	for len(protocolGoroutines()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := protocolGoroutines(); len(g) > 0 {
		t.Fatalf("goroutines left after Close:\n%s", strings.Join(g, "\n\n"))
	}
	for range srv.Requests() {
		// Drain what was queued; the channel must be closed.
	}
	if err := srv.Publish(nil, "status", nil); err == nil {
		t.Errorf("Publish after Close succeeded")
	}
	// The ports are free again.
	ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(srv.Info().ShellPort))
	if err != nil {
		t.Errorf("shell port still bound after Close: %v", err)
	} else {
		ln.Close()
	}
}

func TestContextCancelCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := protocol.Listen(ctx, protocol.ConnectionInfo{IP: "127.0.0.1", Key: testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-srv.Requests():
		if ok {
			t.Fatal("unexpected request")
		}
	case <-time.After(guard):
		t.Fatal("cancelled context did not close the server (deadlock guard)")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := protocol.Listen(context.Background(), protocol.ConnectionInfo{IP: "127.0.0.1", SignatureScheme: "hmac-md4"}, nil); err == nil {
		t.Error("unknown signature scheme accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	_, err = protocol.Listen(context.Background(), protocol.ConnectionInfo{IP: "127.0.0.1", ShellPort: busy}, nil)
	if err == nil || !strings.Contains(err.Error(), "shell") {
		t.Errorf("binding a busy port: err = %v, want an error naming the shell socket", err)
	}
}

func TestConnectionFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kernel-1.json")
	// The form Jupyter writes.
	raw := `{"shell_port": 53794, "iopub_port": 53795, "stdin_port": 53796, "control_port": 53797,
  "hb_port": 53798, "ip": "127.0.0.1", "key": "k3y", "transport": "tcp",
  "signature_scheme": "hmac-sha256", "kernel_name": "gostudy"}`
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := protocol.LoadConnectionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: 53794, ControlPort: 53797,
		IOPubPort: 53795, StdinPort: 53796, HBPort: 53798, Key: "k3y", SignatureScheme: "hmac-sha256", KernelName: "gostudy"}
	if info != want {
		t.Errorf("loaded %+v, want %+v", info, want)
	}
	out := filepath.Join(dir, "out.json")
	if err := protocol.WriteConnectionFile(out, info); err != nil {
		t.Fatal(err)
	}
	back, err := protocol.LoadConnectionFile(out)
	if err != nil || back != info {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("connection file mode = %v, %v; want 0600 (it holds the key)", st.Mode().Perm(), err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.LoadConnectionFile(path); err == nil {
		t.Error("malformed connection file accepted")
	}
	if _, err := protocol.LoadConnectionFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing connection file accepted")
	}
}

func TestReplyBeforeCloseIsDelivered(t *testing.T) {
	srv := listen(t, testKey, nil)
	control := dial(t, zmq4.Dealer, srv.Info().ControlPort, testKey, "fe")
	sub := dial(t, zmq4.Sub, srv.Info().IOPubPort, testKey, "")
	waitSubscribed(t, srv, sub)
	req := newRequest("shutdown_request", map[string]any{"restart": false})
	control.send(req, testKey)
	r := nextRequest(t, srv)
	if err := srv.Reply(r, "shutdown_reply", map[string]any{"status": "ok", "restart": false}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Status(r.Msg, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	rep, _ := control.recv()
	if rep.Header.MsgType != "shutdown_reply" || rep.ParentHeader.MsgID != req.Header.MsgID {
		t.Errorf("got %s (parent %s), want the shutdown_reply", rep.Header.MsgType, rep.ParentHeader.MsgID)
	}
	st, _ := sub.recv()
	if st.Header.MsgType != "status" {
		t.Errorf("got %s on iopub, want the last status", st.Header.MsgType)
	}
}

func TestIPCTransport(t *testing.T) {
	base := filepath.Join(t.TempDir(), "kernel")
	info := protocol.ConnectionInfo{Transport: "ipc", IP: base, ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 5, Key: testKey}
	srv, err := protocol.Listen(context.Background(), info, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("ipc-client")))
	defer sock.Close()
	if err := sock.Dial("ipc://" + base + "-1"); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, sock: sock, key: testKey, in: make(chan zmq4.Msg, 1)}
	go func() {
		if m, err := sock.Recv(); err == nil {
			c.in <- m
		}
	}()
	kernelInfoRoundTrip(t, srv, c, c)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base + "-1"); err == nil {
		t.Errorf("ipc socket file left after Close")
	}
}

// TestCloseWithStuckPeer: a frontend that stops reading must not make Close wait for
// the one-minute write timeout; Close gives up after its short linger.
func TestCloseWithStuckPeer(t *testing.T) {
	srv := listen(t, testKey, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A zmq4 DEALER that nobody calls Recv on stops reading its connection once its
	// small internal queue is full.
	sock := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("stuck")))
	defer sock.Close()
	if err := sock.Dial("tcp://127.0.0.1:" + itoa(srv.Info().ShellPort)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, sock: sock, key: testKey}
	c.send(newRequest("execute_request", map[string]any{"code": "big"}), testKey)
	r := nextRequest(t, srv)
	big := strings.Repeat("x", 1<<20)
	for range 64 { // 64 MiB: far more than the socket buffers hold
		if err := srv.Reply(r, "execute_reply", map[string]string{"status": "ok", "blob": big}); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(guard):
		t.Fatalf("Close blocked on a peer that does not read (deadlock guard)")
	}
}
