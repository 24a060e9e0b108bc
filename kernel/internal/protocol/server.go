// Package protocol implements the kernel side of the Jupyter messaging protocol 5.3 over
// ZeroMQ: the connection file, the wire format with its HMAC signatures, and the five
// sockets (shell, control, stdin, iopub, heartbeat).
//
// A Server delivers verified shell and control requests on one channel; the kernel
// answers with Reply, broadcasts side effects with Publish and Status, and asks the
// frontend for text with Input. Messages with a bad signature, replayed signatures or
// malformed frames are logged and dropped before they reach the kernel.
package protocol

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/google/uuid"
)

// Channel names the socket a request arrived on.
type Channel int

// The channels a request can arrive on (iopub and heartbeat carry no requests).
const (
	Shell Channel = iota
	Control
	Stdin
)

// String returns the channel name used by Jupyter.
func (c Channel) String() string {
	switch c {
	case Shell:
		return "shell"
	case Control:
		return "control"
	case Stdin:
		return "stdin"
	}
	return fmt.Sprintf("channel(%d)", int(c))
}

// Request is a verified message received on shell or control.
type Request struct {
	Channel Channel
	Msg     *Message
}

// ErrClosed is returned by Server methods called after Close.
var ErrClosed = errors.New("protocol: server closed")

// Server owns the kernel's sockets.
type Server struct {
	info    ConnectionInfo
	log     *slog.Logger
	signer  *signer
	replay  *replayGuard
	session string

	shell, control, stdin, iopub, hb *zsocket

	reqs      chan Request
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	watchDone chan struct{}

	inputMu  sync.Mutex // one Input round trip at a time
	pendMu   sync.Mutex
	pendID   string        // msg_id of the input_request awaiting a reply
	pendChan chan *Message // where its input_reply goes
}

// Listen binds all five sockets to the address in info (ports 0 pick free ports; see
// Info) and starts the heartbeat. The server closes itself when ctx is done.
// log may be nil.
func Listen(ctx context.Context, info ConnectionInfo, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	info.setDefaults()
	sg, err := newSigner(info.SignatureScheme, info.Key)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if info.Key == "" {
		log.Warn("connection key is empty: messages are not signed or checked")
	}
	s := &Server{
		log:       log,
		signer:    sg,
		replay:    newReplayGuard(),
		session:   uuid.NewString(),
		reqs:      make(chan Request, 16),
		done:      make(chan struct{}),
		watchDone: make(chan struct{}),
	}
	type spec struct {
		dst  **zsocket
		kind socketType
		name string
		port *int
		on   func(*peer, [][]byte)
	}
	specs := []spec{
		{&s.hb, typeRep, "hb", &info.HBPort, s.echo},
		{&s.iopub, typePub, "iopub", &info.IOPubPort, s.welcome},
		{&s.control, typeRouter, "control", &info.ControlPort, s.requestHandler(Control)},
		{&s.stdin, typeRouter, "stdin", &info.StdinPort, s.stdinHandler},
		{&s.shell, typeRouter, "shell", &info.ShellPort, s.requestHandler(Shell)},
	}
	for _, sp := range specs {
		z, err := listenZ(sp.kind, sp.name, info.Transport, info.IP, *sp.port, log, sp.on)
		if err != nil {
			s.closeSockets()
			close(s.watchDone)
			return nil, fmt.Errorf("listen: %w", err)
		}
		*sp.dst = z
		if info.Transport == "tcp" {
			*sp.port = z.port()
		}
	}
	s.info = info
	go func() {
		defer close(s.watchDone)
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-s.done:
		}
	}()
	log.Debug("kernel sockets listening", "ip", info.IP, "shell", info.ShellPort,
		"control", info.ControlPort, "iopub", info.IOPubPort, "stdin", info.StdinPort, "hb", info.HBPort)
	return s, nil
}

// Info returns the connection info with the ports actually bound, so a caller that
// asked for port 0 can write a connection file for frontends.
func (s *Server) Info() ConnectionInfo { return s.info }

// Session returns the session id this server puts in the headers it sends.
func (s *Server) Session() string { return s.session }

// Requests delivers verified shell and control requests in arrival order per channel.
// It is closed by Close. Handle shell requests away from the receiving loop (e.g. on a
// worker goroutine) so that control requests such as interrupt_request keep flowing
// while a cell runs: the shell and control sockets are read concurrently, but both feed
// this one channel.
func (s *Server) Requests() <-chan Request { return s.reqs }

// welcome greets a new iopub subscriber with an iopub_welcome message (JEP 65), sent to that
// subscriber only: a front end knows its subscription is live once it sees it, so it does
// not lose the first messages of a request to the PUB/SUB "slow joiner" race.
func (s *Server) welcome(p *peer, frames [][]byte) {
	// Topic filtering applies to the welcome as to any message (a subscriber to "status"
	// alone does not get it), as it would through libzmq's XPUB.
	if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] != 1 || !p.subscribed([]byte("iopub_welcome")) {
		return
	}
	m, err := s.NewMessage(nil, "iopub_welcome", map[string]string{"subscription": string(frames[0][1:])})
	if err != nil {
		return
	}
	m.Identities = [][]byte{[]byte("iopub_welcome")}
	out, err := encode(m, s.signer)
	if err != nil {
		return
	}
	if err := p.enqueue(outgoing{frames: out}); err != nil {
		s.log.Debug("iopub_welcome dropped", "err", err)
	}
}

// echo is the heartbeat: every message comes straight back to its sender.
func (s *Server) echo(p *peer, frames [][]byte) {
	if err := p.enqueue(outgoing{frames: frames}); err != nil {
		s.log.Debug("heartbeat echo dropped", "err", err)
	}
}

// receive decodes and authenticates one message; it logs and returns nil when the
// message must be dropped.
func (s *Server) receive(ch Channel, frames [][]byte) *Message {
	m, err := decode(frames, s.signer)
	if err == nil && s.signer.key != nil && !s.replay.fresh(digestOf(frames)) {
		err = errReplayed
	}
	if err != nil {
		s.log.Warn("dropping message", "channel", ch.String(), "frames", len(frames), "reason", err)
		return nil
	}
	return m
}

// digestOf returns the digest an already verified message's signature encodes. The replay
// guard keys on these bytes, not on the hex text: hex is case-insensitive, so the same
// signature upper-cased must count as seen.
func digestOf(frames [][]byte) []byte {
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			d, _ := hex.DecodeString(string(frames[i+1])) // verified: valid hex
			return d
		}
	}
	return nil
}

func (s *Server) requestHandler(ch Channel) func(*peer, [][]byte) {
	return func(_ *peer, frames [][]byte) {
		m := s.receive(ch, frames)
		if m == nil {
			return
		}
		select {
		case s.reqs <- Request{Channel: ch, Msg: m}:
		case <-s.done:
		}
	}
}

func (s *Server) stdinHandler(_ *peer, frames [][]byte) {
	m := s.receive(Stdin, frames)
	if m == nil {
		return
	}
	if m.Header.MsgType != "input_reply" {
		s.log.Warn("unexpected message on stdin", "msg_type", m.Header.MsgType)
		return
	}
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if s.pendChan == nil || (m.ParentHeader.MsgID != "" && m.ParentHeader.MsgID != s.pendID) {
		s.log.Warn("input_reply does not answer a pending input_request", "parent", m.ParentHeader.MsgID)
		return
	}
	s.pendChan <- m // buffered (1); the pending entry is cleared right after
	s.pendChan = nil
}

// NewMessage builds a message of msgType whose parent is parent (nil for none): the
// header is fresh, the parent header and routing identities are the parent's. Callers
// may set Metadata and Buffers before sending it with Send or PublishMessage.
func (s *Server) NewMessage(parent *Message, msgType string, content any) (*Message, error) {
	c, err := marshalContent(content)
	if err != nil {
		return nil, fmt.Errorf("%s content: %w", msgType, err)
	}
	m := &Message{
		Header: Header{
			MsgID:    newMsgID(),
			Session:  s.session,
			Username: "kernel",
			Date:     now(),
			MsgType:  msgType,
			Version:  ProtocolVersion,
		},
		Content: c,
	}
	if parent != nil {
		m.ParentHeader = parent.Header
		m.parentRaw = parent.rawHeader
		m.Identities = parent.Identities
	}
	return m, nil
}

// Send signs m and sends it on the shell, control or stdin socket, routed by
// m.Identities.
func (s *Server) Send(ch Channel, m *Message) error {
	var z *zsocket
	switch ch {
	case Shell:
		z = s.shell
	case Control:
		z = s.control
	case Stdin:
		z = s.stdin
	default:
		return fmt.Errorf("send %s: unknown channel %v", m.Header.MsgType, ch)
	}
	if len(m.Identities) == 0 {
		return fmt.Errorf("send %s on %v: message has no routing identity", m.Header.MsgType, ch)
	}
	frames, err := encode(m, s.signer)
	if err != nil {
		return fmt.Errorf("send %s: %w", m.Header.MsgType, err)
	}
	if err := z.route(frames, ch == Stdin); err != nil {
		if errors.Is(err, errClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("send %s on %v: %w", m.Header.MsgType, ch, err)
	}
	return nil
}

// Reply answers req on the channel it came from; the reply's parent is req's message.
func (s *Server) Reply(req Request, msgType string, content any) error {
	m, err := s.NewMessage(req.Msg, msgType, content)
	if err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return s.Send(req.Channel, m)
}

// PublishMessage broadcasts m on iopub. Its topic frame is the message type; m's
// identities are ignored (they only route replies).
func (s *Server) PublishMessage(m *Message) error {
	out := *m
	out.Identities = [][]byte{[]byte(m.Header.MsgType)}
	frames, err := encode(&out, s.signer)
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.Header.MsgType, err)
	}
	if err := s.iopub.publish(frames); err != nil {
		if errors.Is(err, errClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("publish %s: %w", m.Header.MsgType, err)
	}
	return nil
}

// Publish broadcasts a message of msgType on iopub with parent's header as its parent
// header (nil for none), so frontends attach it to the request that caused it.
func (s *Server) Publish(parent *Message, msgType string, content any) error {
	m, err := s.NewMessage(parent, msgType, content)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return s.PublishMessage(m)
}

// Status publishes the kernel's execution state: "busy", "idle" or "starting".
func (s *Server) Status(parent *Message, state string) error {
	return s.Publish(parent, "status", map[string]string{"execution_state": state})
}

// Input asks the frontend that sent parent (an execute_request whose content had
// allow_stdin true) for a line of text, and waits for its input_reply or ctx.
func (s *Server) Input(ctx context.Context, parent *Message, prompt string, password bool) (string, error) {
	if parent == nil {
		return "", errors.New("input: no parent request to route to")
	}
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	m, err := s.NewMessage(parent, "input_request", map[string]any{"prompt": prompt, "password": password})
	if err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	replies := make(chan *Message, 1)
	s.pendMu.Lock()
	s.pendID, s.pendChan = m.Header.MsgID, replies
	s.pendMu.Unlock()
	defer func() {
		s.pendMu.Lock()
		s.pendID, s.pendChan = "", nil
		s.pendMu.Unlock()
	}()
	if err := s.Send(Stdin, m); err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	select {
	case r := <-replies:
		var c struct {
			Value string `json:"value"`
		}
		if err := r.DecodeContent(&c); err != nil {
			return "", fmt.Errorf("input: %w", err)
		}
		return c.Value, nil
	case <-ctx.Done():
		return "", fmt.Errorf("input: %w", ctx.Err())
	case <-s.done:
		return "", fmt.Errorf("input: %w", ErrClosed)
	}
}

func (s *Server) closeSockets() error {
	var errs []error
	for _, z := range []*zsocket{s.shell, s.control, s.stdin, s.iopub, s.hb} {
		if z != nil {
			errs = append(errs, z.close())
		}
	}
	return errors.Join(errs...)
}

// Close closes every socket, stops the heartbeat and waits for all of the server's
// goroutines. Messages already queued (a shutdown_reply, a last status) are still sent
// for up to two seconds, so Close never hangs on a frontend that vanished. It is safe
// to call more than once.
func (s *Server) Close() error {
	err := s.shutdown()
	<-s.watchDone
	return err
}

func (s *Server) shutdown() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeErr = s.closeSockets()
		close(s.reqs)
	})
	return s.closeErr
}

// Wire-level helpers for tests and tools that play the frontend.

// EncodeFrames returns the signed wire frames of m (identities first), as a frontend
// would send them. key and scheme are those of the connection file.
func EncodeFrames(m *Message, key, scheme string) ([][]byte, error) {
	sg, err := newSigner(scheme, key)
	if err != nil {
		return nil, err
	}
	return encode(m, sg)
}

// DecodeFrames parses and authenticates wire frames, as a frontend receiving from the
// kernel would.
func DecodeFrames(frames [][]byte, key, scheme string) (*Message, error) {
	sg, err := newSigner(scheme, key)
	if err != nil {
		return nil, err
	}
	m, err := decode(frames, sg)
	if err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return m, nil
}

// MarshalContent is a helper to build Message.Content from a value.
func MarshalContent(v any) (json.RawMessage, error) { return marshalContent(v) }
