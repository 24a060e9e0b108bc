package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gostudy/gostudy/kernel/internal/protocol"
)

// Raw peer input, written out byte by byte here so these tests do not share the code
// under test.
var (
	zmtpGreeting = func() []byte {
		g := make([]byte, 64)
		g[0], g[9], g[10] = 0xFF, 0x7F, 3
		copy(g[12:], "NULL")
		return g
	}()
	// READY whose Socket-Type value claims 16 bytes and has 3.
	truncatedReady = []byte("\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x10DEA")
)

func readyFor(sockType string) []byte {
	body := []byte("\x05READY\x0bSocket-Type")
	body = binary.BigEndian.AppendUint32(body, uint32(len(sockType)))
	body = append(body, sockType...)
	return append([]byte{0x04, byte(len(body))}, body...)
}

func longFrameHeader(size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0x02}, size)
}

// attack connects to port, sends data, and waits for the kernel to close the connection.
func attack(t *testing.T, port int, data []byte) {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	// The kernel sends its greeting and READY, then must hang up on us.
	if _, err := io.Copy(io.Discard, c); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("port %d: the kernel kept a malformed connection open", port)
		}
	}
}

// TestMalformedPeersOnEverySocket sends the inputs that used to crash the kernel before
// any signature check (a truncated READY panicked in the handshake; frame headers claiming
// 1 TiB or 2^62 bytes were allocated) to each of the five sockets, and checks that each
// ends only its own connection: the kernel keeps serving and did not allocate the claims.
func TestMalformedPeersOnEverySocket(t *testing.T) {
	rec := &logRecorder{}
	srv := listen(t, testKey, slog.New(slog.NewTextHandler(rec, nil)))
	info := srv.Info()
	ports := map[string]struct {
		port int
		typ  string
	}{
		"shell": {info.ShellPort, "DEALER"}, "control": {info.ControlPort, "DEALER"},
		"stdin": {info.StdinPort, "DEALER"}, "iopub": {info.IOPubPort, "SUB"}, "hb": {info.HBPort, "REQ"},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for name, p := range ports {
		ready := append(append([]byte{}, zmtpGreeting...), readyFor(p.typ)...)
		for what, data := range map[string][]byte{
			"truncated READY": append(append([]byte{}, zmtpGreeting...), truncatedReady...),
			"1 TiB frame":     append(append([]byte{}, ready...), longFrameHeader(1<<40)...),
			"2^62-byte frame": append(append([]byte{}, ready...), longFrameHeader(1<<62)...),
			"1 TiB command":   append(append(append([]byte{}, zmtpGreeting...), 0x06), binary.BigEndian.AppendUint64(nil, 1<<40)...),
			"garbage":         bytes.Repeat([]byte("\xff\x00junk"), 100),
		} {
			t.Run(name+"/"+what, func(t *testing.T) { attack(t, p.port, data) })
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("the attacks made the kernel allocate %d MiB", grew>>20)
	}
	if rec.count("connection closed") == 0 {
		t.Errorf("no connection was logged as closed:\n%s", strings.Join(rec.msgs, ""))
	}

	// Every socket still works.
	shell := dial(t, zmq4.Dealer, info.ShellPort, testKey, "fe")
	kernelInfoRoundTrip(t, srv, shell, shell)
	control := dial(t, zmq4.Dealer, info.ControlPort, testKey, "fe")
	control.send(newRequest("interrupt_request", nil), testKey)
	if r := nextRequest(t, srv); r.Channel != protocol.Control {
		t.Fatalf("request on %v, want control", r.Channel)
	}
	sub := dial(t, zmq4.Sub, info.IOPubPort, testKey, "")
	waitSubscribed(t, srv, sub)
	hb := dial(t, zmq4.Req, info.HBPort, testKey, "")
	if err := hb.sock.Send(zmq4.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	if m, err := hb.sock.Recv(); err != nil || string(m.Frames[0]) != "ping" {
		t.Fatalf("heartbeat after the attacks: %q, %v", m.Frames, err)
	}
}

// TestDuplicateIdentityKeepsFirstPeer: a second connection presenting the identity of a
// connected front end (its session id, which every iopub message carries) must not receive
// that front end's replies, and the front end must keep getting them, also after the
// intruder leaves. This is libzmq's ROUTER default (ZMQ_ROUTER_HANDOVER off).
func TestDuplicateIdentityKeepsFirstPeer(t *testing.T) {
	srv := listen(t, testKey, nil)
	port := srv.Info().ShellPort
	front := dial(t, zmq4.Dealer, port, testKey, "session-42")
	kernelInfoRoundTrip(t, srv, front, front)

	intruder := dial(t, zmq4.Dealer, port, testKey, "session-42")
	// The intruder is refused; a request it manages to send is not routed to it either.
	_ = intruder.sock.Send(zmq4.NewMsgFrom([]byte("<IDS|MSG>")))
	kernelInfoRoundTrip(t, srv, front, front) // while the intruder is connected
	select {
	case m := <-intruder.in:
		t.Fatalf("the intruder received %q", m.Frames)
	case <-time.After(300 * time.Millisecond):
	}
	intruder.sock.Close()
	time.Sleep(100 * time.Millisecond)
	kernelInfoRoundTrip(t, srv, front, front) // after the intruder left
}

// TestReplayWithRecasedSignatureDropped: HMAC signatures are hex, which verification reads
// case-insensitively, so the replay guard must treat an upper-cased copy of a signature it
// saw as the same signature.
func TestReplayWithRecasedSignatureDropped(t *testing.T) {
	srv := listen(t, testKey, nil)
	shell := dial(t, zmq4.Dealer, srv.Info().ShellPort, testKey, "fe")
	first := newRequest("execute_request", map[string]any{"code": "once"})
	frames := shell.send(first, testKey)
	if r := nextRequest(t, srv); r.Msg.Header.MsgID != first.Header.MsgID {
		t.Fatalf("unexpected request %q", r.Msg.Header.MsgID)
	}
	replayed := make([][]byte, len(frames))
	copy(replayed, frames)
	replayed[1] = bytes.ToUpper(frames[1])
	if bytes.Equal(replayed[1], frames[1]) {
		t.Fatal("signature has no letters to re-case")
	}
	shell.sendFrames(replayed)
	second := newRequest("execute_request", map[string]any{"code": "next"})
	shell.send(second, testKey)
	// Messages on one connection are handled in order: a replay that got through would
	// arrive before the second request.
	if r := nextRequest(t, srv); r.Msg.Header.MsgID != second.Header.MsgID {
		t.Fatalf("delivered %q, want the second request (the re-cased replay must be dropped)", r.Msg.Header.MsgID)
	}
}
