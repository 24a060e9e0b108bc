package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// peerConn is a net.Conn whose reads come from what a peer sent and whose writes are
// discarded: the reader under test sees exactly the peer's bytes.
type peerConn struct {
	r io.Reader
}

func (c *peerConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *peerConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *peerConn) Close() error                     { return nil }
func (c *peerConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *peerConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *peerConn) SetDeadline(time.Time) error      { return nil }
func (c *peerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *peerConn) SetWriteDeadline(time.Time) error { return nil }

// Peer byte strings for tests and the fuzz seeds.

func greeting(major, minor byte, mech string) []byte {
	g := make([]byte, greetingSize)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, major, minor
	copy(g[12:32], mech)
	return g
}

func commandFrame(name string, data []byte) []byte {
	body := append(append([]byte{byte(len(name))}, name...), data...)
	return append(frameHeader(nil, flagCommand, len(body)), body...)
}

func readyFrame(sockType, identity string) []byte {
	props := map[string][]byte{"Socket-Type": []byte(sockType)}
	if identity != "" {
		props["Identity"] = []byte(identity)
	}
	return commandFrame("READY", encodeMetadata(props))
}

func messageFrames(frames ...string) []byte {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = flagMore
		}
		b = append(frameHeader(b, flags, len(f)), f...)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hugeFrame is a long frame header claiming size bytes, followed by a few of them.
func hugeFrame(size uint64) []byte {
	h := []byte{flagLong}
	h = binary.BigEndian.AppendUint64(h, size)
	return append(h, "only a few bytes"...)
}

// truncatedReady is a READY command whose Socket-Type value claims 16 bytes but has 3: the
// input that crashed zmq4's handshake.
func truncatedReady() []byte {
	body := []byte("\x05READY\x0bSocket-Type\x00\x00\x00\x10DEA")
	return append(frameHeader(nil, flagCommand, len(body)), body...)
}

// fuzzSeeds are peer inputs worth starting from: well-formed sessions and the attacks the
// hardening issue reported. The same inputs are committed, one file each, as the fuzz
// target's seed corpus in testdata/fuzz/FuzzZMTPReader (plain `go test` runs them).
func fuzzSeeds() map[string][]byte {
	g := greeting(3, 0, "NULL")
	return map[string][]byte{
		"dealer-session":    cat(g, readyFrame("DEALER", "frontend"), messageFrames("<IDS|MSG>", "sig", "{}", "{}", "{}", "{}")),
		"sub-session":       cat(greeting(3, 1, "NULL"), readyFrame("SUB", ""), messageFrames("\x01"), commandFrame("SUBSCRIBE", []byte("status"))),
		"req-ping":          cat(g, readyFrame("REQ", ""), commandFrame("PING", []byte("\x00\x10ctx")), messageFrames("", "ping")),
		"truncated-ready":   cat(g, truncatedReady()),
		"frame-1TiB":        cat(g, readyFrame("DEALER", ""), hugeFrame(1<<40)),
		"frame-2pow62":      cat(g, readyFrame("DEALER", ""), hugeFrame(1<<62)),
		"frame-maxuint64":   cat(g, readyFrame("DEALER", ""), hugeFrame(^uint64(0))),
		"command-1TiB":      cat(g, []byte{flagCommand | flagLong}, binary.BigEndian.AppendUint64(nil, 1<<40)),
		"command-with-more": cat(g, []byte{flagCommand | flagMore, 6}, []byte("\x05READY")),
		"empty-frames":      cat(g, readyFrame("DEALER", ""), bytes.Repeat([]byte{flagMore, 0}, 1000)),
		"version-2":         cat(greeting(2, 0, "NULL"), readyFrame("DEALER", "")),
		"plain-mechanism":   cat(greeting(3, 0, "PLAIN"), readyFrame("DEALER", "")),
		"http":              []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
		"wrong-socket":      cat(g, readyFrame("PUB", "")),
		"error-command":     cat(g, commandFrame("ERROR", []byte("\x04nope"))),
		"zero-name-len":     cat(g, commandFrame("", nil)),
		"name-len-too-big":  cat(g, []byte{flagCommand, 3, 200, 'A', 'B'}),
		"identity-zero":     cat(g, readyFrame("DEALER", "\x00abcd"), messageFrames("x")),
	}
}

// FuzzZMTPReader feeds arbitrary bytes to the kernel's side of a ZMTP connection, as any
// local process can: the handshake and the message reader must return errors, never panic,
// and never hand out more bytes than the peer sent (so nothing was allocated on a claim).
func FuzzZMTPReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []socketType{typeRouter, typePub, typeRep} {
			w := newWireConn(&peerConn{r: bytes.NewReader(data)})
			if err := w.handshake(kind); err != nil {
				continue
			}
			got := len(w.identity)
			for {
				m, err := w.readMessage()
				if err != nil {
					break
				}
				got += len(m.body)
				for _, fr := range m.frames {
					got += len(fr)
				}
			}
			if got > len(data) {
				t.Fatalf("%s: read %d bytes of frames from %d bytes of input", kind, got, len(data))
			}
		}
	})
}

func TestHandshakeAcceptsFrontendSockets(t *testing.T) {
	g := greeting(3, 1, "NULL")
	for _, tc := range []struct {
		kind     socketType
		peer, id string
	}{
		{typeRouter, "DEALER", "session-1"},
		{typeRouter, "REQ", ""},
		{typePub, "SUB", ""},
		{typeRep, "REQ", ""},
	} {
		w := newWireConn(&peerConn{r: bytes.NewReader(cat(g, readyFrame(tc.peer, tc.id), messageFrames("a", "bc")))})
		if err := w.handshake(tc.kind); err != nil {
			t.Errorf("%s peer on %s: %v", tc.peer, tc.kind, err)
			continue
		}
		if string(w.identity) != tc.id {
			t.Errorf("identity %q, want %q", w.identity, tc.id)
		}
		m, err := w.readMessage()
		if err != nil || len(m.frames) != 2 || string(m.frames[0]) != "a" || string(m.frames[1]) != "bc" {
			t.Errorf("%s: message %+v, %v", tc.kind, m, err)
		}
	}
}

// TestReaderRejectsAttacks checks each reported attack ends in an error that says what was
// wrong, and that the huge claims cost no memory.
func TestReaderRejectsAttacks(t *testing.T) {
	seeds := fuzzSeeds()
	for name, want := range map[string]string{
		"truncated-ready":   "metadata value of 16 bytes with 3 left",
		"frame-1TiB":        "exceeds the kernel's limit",
		"frame-2pow62":      "exceeds the kernel's limit",
		"frame-maxuint64":   "exceeds the kernel's limit",
		"command-1TiB":      "exceeds the kernel's limit",
		"command-with-more": "MORE flag",
		"version-2":         "version 2.0",
		"plain-mechanism":   "PLAIN",
		"http":              "not a ZMTP greeting",
		"wrong-socket":      "cannot connect",
		"error-command":     "nope",
		"zero-name-len":     "command name",
		"name-len-too-big":  "command name",
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w := newWireConn(&peerConn{r: bytes.NewReader(seeds[name])})
		err := w.handshake(typeRouter)
		if err == nil {
			_, err = w.readMessage()
		}
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: allocated %d bytes", name, grew)
		}
	}
}

func TestReaderLimits(t *testing.T) {
	g := cat(greeting(3, 0, "NULL"), readyFrame("DEALER", ""))
	// A frame just over the limit is refused from its header, before its body arrives.
	over := cat(g, []byte{flagLong}, binary.BigEndian.AppendUint64(nil, MaxMessageSize))
	w := newWireConn(&peerConn{r: bytes.NewReader(over)})
	if err := w.handshake(typeRouter); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readMessage(); !errors.Is(err, errTooLarge) {
		t.Errorf("frame of MaxMessageSize bytes: %v, want errTooLarge", err)
	}
	// Too many frames.
	many := cat(g, bytes.Repeat([]byte{flagMore, 0}, MaxFrames+1))
	w = newWireConn(&peerConn{r: bytes.NewReader(many)})
	if err := w.handshake(typeRouter); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readMessage(); !errors.Is(err, errTooLarge) {
		t.Errorf("%d frames: %v, want errTooLarge", MaxFrames+1, err)
	}
	// A large frame that does arrive is read whole.
	big := strings.Repeat("x", 3*readChunk+5)
	w = newWireConn(&peerConn{r: bytes.NewReader(cat(g, messageFrames("id", big)))})
	if err := w.handshake(typeRouter); err != nil {
		t.Fatal(err)
	}
	if m, err := w.readMessage(); err != nil || string(m.frames[1]) != big {
		t.Errorf("large frame: %v", err)
	}
	// A body cut short is an unexpected EOF, not a short frame.
	w = newWireConn(&peerConn{r: bytes.NewReader(cat(g, hugeFrame(3*readChunk)))})
	if err := w.handshake(typeRouter); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body: %v, want unexpected EOF", err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	frames := [][]byte{[]byte("id"), {}, bytes.Repeat([]byte("y"), 300)}
	go func() {
		_ = newWireConn(a).writeMessage(frames)
		_ = newWireConn(a).writeCommand("PONG", []byte("ctx"))
	}()
	r := newWireConn(b)
	m, err := r.readMessage()
	if err != nil || len(m.frames) != 3 || !bytes.Equal(m.frames[2], frames[2]) || len(m.frames[1]) != 0 {
		t.Fatalf("read back %+v, %v", m, err)
	}
	m, err = r.readMessage()
	if err != nil || m.command != "PONG" || string(m.body) != "ctx" {
		t.Fatalf("command read back %+v, %v", m, err)
	}
}
