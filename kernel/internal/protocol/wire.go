package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
)

// This file is the ZMTP 3.0 wire protocol (https://rfc.zeromq.org/spec/23/) with the NULL
// security mechanism: the greeting, the READY handshake, and framing. It is written here
// rather than taken from go-zeromq/zmq4 because zmq4 v0.17.0 trusts what a peer sends
// before any signature can be checked: a READY command with truncated metadata panics
// ("slice bounds out of range"), and a frame header that claims 2^62 bytes makes it
// allocate them. Here every length a peer sends is checked against what is left of its
// frame and against the limits below before anything is allocated, buffers grow with the
// bytes that actually arrive, and any violation ends that one connection with an error.
// FuzzZMTPReader feeds this code arbitrary peer input.

// Limits on what a peer may send. Past any of them the connection is closed and the kernel
// logs why; other connections and the kernel are not affected. docs/kernel.md lists them.
const (
	// MaxMessageSize bounds the frames of one message together (a Jupyter message with its
	// buffers), in bytes.
	MaxMessageSize = 256 << 20
	// MaxFrames bounds the number of frames in one message.
	MaxFrames = 1 << 16
	// maxCommandSize bounds a ZMTP command (READY metadata, PING, SUBSCRIBE); real ones are
	// a few hundred bytes.
	maxCommandSize = 64 << 10
	// frameOverhead is what each frame costs against MaxMessageSize besides its bytes, so a
	// flood of empty frames cannot grow the frame list without bound.
	frameOverhead = 64
	// readChunk is the most a body read allocates ahead of the bytes received.
	readChunk = 64 << 10
)

// socketType is a ZMTP socket type, as sent in the READY metadata.
type socketType string

const (
	typeRouter socketType = "ROUTER"
	typeDealer socketType = "DEALER"
	typePub    socketType = "PUB"
	typeSub    socketType = "SUB"
	typeXSub   socketType = "XSUB"
	typeRep    socketType = "REP"
	typeReq    socketType = "REQ"
)

// compatible reports whether a peer of type peer may connect to a socket of type s (the
// ZMTP socket compatibility table for the three kinds the kernel listens with).
func (s socketType) compatible(peer socketType) bool {
	switch s {
	case typeRouter:
		return peer == typeDealer || peer == typeReq || peer == typeRouter
	case typePub:
		return peer == typeSub || peer == typeXSub
	case typeRep:
		return peer == typeReq || peer == typeDealer
	}
	return false
}

// Frame flags.
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

// greetingSize is the length of the ZMTP 3.0 greeting.
const greetingSize = 64

var (
	errProtocol  = errors.New("ZMTP protocol violation")
	errTooLarge  = errors.New("exceeds the kernel's limit")
	errMechanism = errors.New("unsupported ZMTP security mechanism (the kernel speaks NULL)")
)

// ourGreeting is the greeting the kernel sends: signature, version 3.0, NULL mechanism,
// as-server 0. Version 3.0 (not 3.1) keeps libzmq peers sending subscriptions as messages;
// 3.1 SUBSCRIBE commands are understood too.
var ourGreeting = func() []byte {
	g := make([]byte, greetingSize)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, 3, 0
	copy(g[12:32], "NULL")
	return g
}()

// checkGreeting validates a peer's greeting.
func checkGreeting(g []byte) error {
	if len(g) != greetingSize || g[0] != 0xFF || g[9]&0x01 == 0 {
		return fmt.Errorf("%w: not a ZMTP greeting", errProtocol)
	}
	if g[10] < 3 {
		return fmt.Errorf("%w: ZMTP version %d.%d (the kernel needs 3.0 or later)", errProtocol, g[10], g[11])
	}
	mech := g[12:32]
	if i := bytes.IndexByte(mech, 0); i >= 0 {
		mech = mech[:i]
	}
	if string(mech) != "NULL" {
		return fmt.Errorf("%w: %q", errMechanism, mech)
	}
	return nil
}

// wireConn is one ZMTP connection after the handshake, or during it. Reads happen on one
// goroutine; writes are serialized by wmu.
type wireConn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex

	peerType socketType
	identity []byte // the peer's Identity property (ROUTER peers), nil when none
}

func newWireConn(c net.Conn) *wireConn {
	return &wireConn{conn: c, r: bufio.NewReaderSize(c, 4096)}
}

// handshake exchanges greetings and READY commands as a socket of type kind. The caller
// sets a deadline on the connection.
func (w *wireConn) handshake(kind socketType) error {
	if _, err := w.conn.Write(ourGreeting); err != nil {
		return fmt.Errorf("send greeting: %w", err)
	}
	// The 10-byte signature first, so a peer that does not speak ZMTP (an HTTP client,
	// random bytes) is told apart at once rather than after the handshake timeout.
	g := make([]byte, greetingSize)
	if _, err := io.ReadFull(w.r, g[:10]); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if g[0] != 0xFF || g[9]&0x01 == 0 {
		return fmt.Errorf("%w: not a ZMTP greeting", errProtocol)
	}
	if _, err := io.ReadFull(w.r, g[10:]); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if err := checkGreeting(g); err != nil {
		return err
	}
	ready := map[string][]byte{"Socket-Type": []byte(kind)}
	if kind == typeRouter {
		ready["Identity"] = nil
	}
	if err := w.writeCommand("READY", encodeMetadata(ready)); err != nil {
		return fmt.Errorf("send READY: %w", err)
	}
	m, err := w.readMessage()
	if err != nil {
		return fmt.Errorf("read READY: %w", err)
	}
	if m.command == "ERROR" {
		return fmt.Errorf("peer refused the connection: %q", errorReason(m.body))
	}
	if m.command != "READY" {
		return fmt.Errorf("%w: expected READY, got %s", errProtocol, m.describe())
	}
	meta, err := parseMetadata(m.body)
	if err != nil {
		return err
	}
	w.peerType = socketType(meta["socket-type"])
	if !kind.compatible(w.peerType) {
		return fmt.Errorf("%w: a %q peer cannot connect to a %s socket", errProtocol, w.peerType, kind)
	}
	if id, ok := meta["identity"]; ok && len(id) > 0 {
		if len(id) > 255 {
			return fmt.Errorf("%w: identity of %d bytes (at most 255)", errProtocol, len(id))
		}
		w.identity = id
	}
	return nil
}

// message is what readMessage returns: a command (command != "") or a message's frames.
type message struct {
	command string
	body    []byte // the command's data
	frames  [][]byte
}

func (m message) describe() string {
	if m.command != "" {
		return m.command + " command"
	}
	return fmt.Sprintf("a %d-frame message", len(m.frames))
}

// readMessage reads one command or one whole multi-frame message.
func (w *wireConn) readMessage() (message, error) {
	var m message
	budget := MaxMessageSize
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(w.r, hdr[:2]); err != nil {
			if len(m.frames) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return message{}, err
		}
		flags := hdr[0]
		size := uint64(hdr[1])
		if flags&flagLong != 0 {
			if _, err := io.ReadFull(w.r, hdr[2:9]); err != nil {
				return message{}, unexpected(err)
			}
			size = binary.BigEndian.Uint64(hdr[1:9])
		}
		if flags&flagCommand != 0 {
			if len(m.frames) > 0 {
				return message{}, fmt.Errorf("%w: command frame inside a message", errProtocol)
			}
			if flags&flagMore != 0 {
				return message{}, fmt.Errorf("%w: command frame with the MORE flag", errProtocol)
			}
			if size > maxCommandSize {
				return message{}, fmt.Errorf("command of %d bytes %w (%d)", size, errTooLarge, maxCommandSize)
			}
			body, err := readBody(w.r, int(size))
			if err != nil {
				return message{}, err
			}
			return parseCommand(body)
		}
		if len(m.frames) >= MaxFrames {
			return message{}, fmt.Errorf("message of more than %d frames %w", MaxFrames, errTooLarge)
		}
		if budget < frameOverhead || size > uint64(budget-frameOverhead) {
			return message{}, fmt.Errorf("message of more than %d bytes %w", MaxMessageSize, errTooLarge)
		}
		budget -= int(size) + frameOverhead
		body, err := readBody(w.r, int(size))
		if err != nil {
			return message{}, err
		}
		m.frames = append(m.frames, body)
		if flags&flagMore == 0 {
			return m, nil
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads n bytes. The buffer grows with the bytes that arrive, never to a size a
// peer merely claims, so a header that lies costs nothing until the data comes.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	var buf bytes.Buffer
	buf.Grow(readChunk)
	got, err := io.CopyN(&buf, r, int64(n))
	if got < int64(n) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, unexpected(err)
	}
	return buf.Bytes(), nil
}

// parseCommand splits a command frame into its name and data.
func parseCommand(body []byte) (message, error) {
	if len(body) == 0 {
		return message{}, fmt.Errorf("%w: empty command", errProtocol)
	}
	n := int(body[0])
	if n == 0 || n > len(body)-1 {
		return message{}, fmt.Errorf("%w: command name of %d bytes in a %d-byte command", errProtocol, n, len(body))
	}
	name := string(body[1 : 1+n])
	for _, c := range name {
		if c < 'A' || c > 'Z' {
			return message{}, fmt.Errorf("%w: command name %q", errProtocol, name)
		}
	}
	return message{command: name, body: body[1+n:]}, nil
}

// parseMetadata reads READY properties: a 1-byte name length, the name, a 4-byte value
// length, the value. Names are case-insensitive; they are returned lower-cased.
func parseMetadata(b []byte) (map[string][]byte, error) {
	meta := map[string][]byte{}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || 1+n+4 > len(b) {
			return nil, fmt.Errorf("%w: truncated metadata property", errProtocol)
		}
		name := strings.ToLower(string(b[1 : 1+n]))
		vlen := binary.BigEndian.Uint32(b[1+n : 1+n+4])
		rest := b[1+n+4:]
		if uint64(vlen) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: metadata value of %d bytes with %d left", errProtocol, vlen, len(rest))
		}
		meta[name] = rest[:vlen]
		b = rest[vlen:]
	}
	return meta, nil
}

// encodeMetadata writes READY properties in sorted order.
func encodeMetadata(props map[string][]byte) []byte {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	// A fixed order keeps the bytes on the wire stable (tests, captures).
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(props[n])))
		b = append(b, props[n]...)
	}
	return b
}

// errorReason is the reason text of an ERROR command.
func errorReason(body []byte) string {
	if len(body) == 0 || int(body[0]) > len(body)-1 {
		return ""
	}
	return string(body[1 : 1+int(body[0])])
}

// frameHeader appends a frame header for a body of size n.
func frameHeader(b []byte, flags byte, n int) []byte {
	if n > 255 {
		b = append(b, flags|flagLong)
		return binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, flags, byte(n))
}

// writeCommand sends one command.
func (w *wireConn) writeCommand(name string, data []byte) error {
	body := make([]byte, 0, 1+len(name)+len(data))
	body = append(append(append(body, byte(len(name))), name...), data...)
	w.wmu.Lock()
	defer w.wmu.Unlock()
	bufs := net.Buffers{frameHeader(nil, flagCommand, len(body)), body}
	_, err := bufs.WriteTo(w.conn)
	return err
}

// writeMessage sends the frames of one message.
func (w *wireConn) writeMessage(frames [][]byte) error {
	if len(frames) == 0 {
		return errors.New("send: message without frames")
	}
	bufs := make(net.Buffers, 0, 2*len(frames))
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = flagMore
		}
		bufs = append(bufs, frameHeader(make([]byte, 0, 9), flags, len(f)), f)
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_, err := bufs.WriteTo(w.conn)
	return err
}
