package protocol

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// This file holds the listening ZeroMQ sockets, over the ZMTP codec in wire.go. The socket
// semantics the kernel needs (ROUTER routing by identity, PUB prefix subscriptions, an echo
// for the heartbeat) are implemented here with per-peer send queues, rather than with
// go-zeromq/zmq4's socket types: in v0.17.0 a PUB socket's send goroutine is never stopped
// by Close, ROUTER/REP readers can block forever on an internal channel once nobody calls
// Recv, a REP socket tracks one pending request for all peers, and sends to a peer that
// stopped reading block the caller. A kernel must close without leaking goroutines and must
// not stall a cell because one frontend went away.
//
// Every connection is served by its own goroutines, and anything wrong with one (a bad
// greeting, an oversized frame, a protocol violation, even a panic in the code that reads
// it) ends that connection only.

const (
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds how long one message may take to reach a peer whose receive
	// buffer is full; past it the peer is considered gone and dropped. A reply waits as long
	// for room in the peer's send queue.
	writeTimeout = time.Minute
	// peerQueue is the per-peer send high-water mark, as ZMQ_SNDHWM. iopub messages beyond
	// it are dropped rather than blocking the kernel (PUB semantics); replies wait for room.
	peerQueue = 1000
	// linger is how long close keeps sending what was queued before it (ZMQ_LINGER):
	// a shutdown_reply sent just before Close must still reach the frontend.
	linger = 2 * time.Second
)

var (
	errClosed     = errors.New("socket closed")
	errUnroutable = errors.New("no connected peer has this identity")
	errQueueFull  = errors.New("peer send queue full; message dropped")
)

// zsocket is one listening socket with its connected peers.
type zsocket struct {
	kind  socketType // typeRouter, typePub or typeRep
	name  string     // channel name, for logs
	ln    net.Listener
	log   *slog.Logger
	onMsg func(p *peer, frames [][]byte) // called on the peer's read goroutine

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // connections still in the ZMTP handshake
	peers   map[*peer]struct{}
	byID    map[string]*peer // ROUTER routing table
	wg      sync.WaitGroup

	lingerUntil time.Time // set by close before peers are told to linger
}

// outgoing is one item of a peer's send queue: a message, or a ZMTP command.
type outgoing struct {
	frames  [][]byte
	command string // when set, frames[0] is the command's data
}

// peer is one connected frontend socket.
type peer struct {
	s    *zsocket
	raw  net.Conn
	wc   *wireConn
	id   []byte
	out  chan outgoing
	done chan struct{}
	once sync.Once
	// lingering is closed when the socket closes: the writer sends what is queued,
	// until the socket's lingerUntil, then drops the peer.
	lingering  chan struct{}
	lingerOnce sync.Once

	// dlMu orders write-deadline updates between the writer and close, so a write
	// started just before close cannot keep a minute-long deadline.
	dlMu      sync.Mutex
	lingerSet bool

	topicsMu sync.Mutex
	topics   map[string]int // PUB subscriptions (count, as ZMQ allows repeats)
}

// listenZ binds a socket of the given kind. port 0 picks a free TCP port.
func listenZ(kind socketType, name, transport, ip string, port int, log *slog.Logger,
	onMsg func(*peer, [][]byte)) (*zsocket, error) {
	var (
		ln  net.Listener
		err error
	)
	switch transport {
	case "tcp":
		host := ip
		if host == "*" {
			host = ""
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	case "ipc":
		// Jupyter's ipc transport names each socket "<ip>-<port>".
		ln, err = net.Listen("unix", fmt.Sprintf("%s-%d", ip, port))
	default:
		err = fmt.Errorf("unsupported transport %q", transport)
	}
	if err != nil {
		return nil, fmt.Errorf("bind %s socket: %w", name, err)
	}
	s := &zsocket{
		kind: kind, name: name, ln: ln, log: log, onMsg: onMsg,
		pending: make(map[net.Conn]struct{}),
		peers:   make(map[*peer]struct{}),
		byID:    make(map[string]*peer),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// port returns the bound TCP port (for ipc, the port number is part of the path).
func (s *zsocket) port() int {
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

func (s *zsocket) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient failures (e.g. out of file descriptors): keep serving.
			s.log.Warn("accept failed", "channel", s.name, "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.pending[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handshake(c)
	}
}

func (s *zsocket) handshake(c net.Conn) {
	defer s.wg.Done()
	wc := newWireConn(c)
	err := s.guard("handshake", c, func() error {
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		defer c.SetDeadline(time.Time{})
		return wc.handshake(s.kind)
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, c)
	if err != nil || s.closed {
		c.Close()
		if err != nil && !s.closed {
			s.log.Warn("ZMTP handshake failed; connection closed", "channel", s.name, "remote", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	p := &peer{
		s: s, raw: c, wc: wc,
		out:       make(chan outgoing, peerQueue),
		done:      make(chan struct{}),
		lingering: make(chan struct{}),
		topics:    make(map[string]int),
	}
	if s.kind == typeRouter {
		p.id = wc.identity
		if len(p.id) == 0 || p.id[0] == 0 {
			// libzmq's convention for anonymous peers: a 0 byte then 4 random bytes (ids
			// starting with 0 are reserved for these, so a peer cannot claim one).
			p.id = make([]byte, 5)
			_, _ = rand.Read(p.id[1:])
		}
		if _, taken := s.byID[string(p.id)]; taken {
			// As libzmq's ROUTER without ZMQ_ROUTER_HANDOVER: the first connection keeps
			// its identity and its replies; the newcomer is refused. (Jupyter front ends use
			// their session id as identity, and iopub broadcasts that id to every
			// subscriber, so handing over would let any local client steal replies.)
			s.log.Warn("refusing a second connection with an identity already connected", "channel", s.name,
				"remote", c.RemoteAddr().String())
			c.Close()
			return
		}
		s.byID[string(p.id)] = p
	}
	s.peers[p] = struct{}{}
	s.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
}

// guard runs f, one connection's work, turning a panic into an error so that no input a
// peer sends can take the kernel down.
func (s *zsocket) guard(what string, c net.Conn, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic while serving a connection; connection closed", "channel", s.name, "during", what,
				"remote", c.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic during %s: %v", what, r)
		}
	}()
	return f()
}

func (p *peer) readLoop() {
	defer p.s.wg.Done()
	defer p.drop()
	err := p.s.guard("read", p.raw, func() error {
		for {
			m, err := p.wc.readMessage()
			if err != nil {
				return err
			}
			if m.command != "" {
				if err := p.command(m); err != nil {
					return err
				}
				continue
			}
			switch p.s.kind {
			case typePub:
				p.subscription(m.frames)
				if p.s.onMsg != nil {
					p.s.onMsg(p, m.frames) // the server answers new subscriptions (iopub_welcome)
				}
			case typeRouter:
				frames := make([][]byte, 0, len(m.frames)+1)
				frames = append(frames, p.id)
				p.s.onMsg(p, append(frames, m.frames...))
			default:
				p.s.onMsg(p, m.frames)
			}
		}
	})
	select {
	case <-p.done:
		return // dropped by us: not the peer's doing
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	p.s.log.Warn("connection closed", "channel", p.s.name, "remote", p.raw.RemoteAddr().String(), "reason", err)
}

// command handles a ZMTP command received after the handshake.
func (p *peer) command(m message) error {
	switch m.command {
	case "PING":
		// PING carries a 2-byte TTL then up to 16 bytes of context, which PONG echoes.
		if len(m.body) < 2 {
			return fmt.Errorf("%w: PING of %d bytes", errProtocol, len(m.body))
		}
		ctx := m.body[2:]
		if len(ctx) > 16 {
			return fmt.Errorf("%w: PING context of %d bytes", errProtocol, len(ctx))
		}
		if err := p.enqueue(outgoing{command: "PONG", frames: [][]byte{bytes.Clone(ctx)}}); err != nil {
			p.s.log.Debug("PONG dropped", "channel", p.s.name, "err", err)
		}
	case "SUBSCRIBE", "CANCEL":
		// ZMTP 3.1 peers may send subscriptions as commands.
		if p.s.kind == typePub {
			flag := byte(1)
			if m.command == "CANCEL" {
				flag = 0
			}
			p.subscription([][]byte{append([]byte{flag}, m.body...)})
		}
	case "ERROR":
		return fmt.Errorf("peer sent ERROR: %q", errorReason(m.body))
	case "READY":
		return fmt.Errorf("%w: READY after the handshake", errProtocol)
	}
	// Other commands (PONG, unknown ones) are ignored, as libzmq does.
	return nil
}

// subscription applies a SUB peer's (un)subscribe message: one frame, 1 or 0 then the
// topic prefix. Anything else sent to a PUB socket is ignored, as libzmq does.
func (p *peer) subscription(frames [][]byte) {
	if len(frames) != 1 || len(frames[0]) == 0 {
		return
	}
	f := frames[0]
	topic := string(f[1:])
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	switch f[0] {
	case 1:
		p.topics[topic]++
	case 0:
		if p.topics[topic]--; p.topics[topic] <= 0 {
			delete(p.topics, topic)
		}
	}
}

func (p *peer) subscribed(topic []byte) bool {
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	for t := range p.topics {
		if bytes.HasPrefix(topic, []byte(t)) {
			return true
		}
	}
	return false
}

func (p *peer) writeLoop() {
	defer p.s.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case o := <-p.out:
			if !p.write(o, time.Now().Add(writeTimeout)) {
				return
			}
		case <-p.lingering:
			deadline := p.s.lingerUntil
			for {
				select {
				case o := <-p.out:
					if !p.write(o, deadline) {
						return
					}
				default:
					p.drop()
					return
				}
			}
		}
	}
}

// write sends one message or command; on failure it drops the peer and reports false.
func (p *peer) write(o outgoing, deadline time.Time) bool {
	p.dlMu.Lock()
	if p.lingerSet && p.s.lingerUntil.Before(deadline) {
		deadline = p.s.lingerUntil
	}
	_ = p.raw.SetWriteDeadline(deadline)
	p.dlMu.Unlock()
	var err error
	if o.command != "" {
		err = p.wc.writeCommand(o.command, o.frames[0])
	} else {
		err = p.wc.writeMessage(o.frames)
	}
	if err != nil {
		select {
		case <-p.done:
		default:
			p.s.log.Warn("send failed; dropping peer", "channel", p.s.name, "err", err)
		}
		p.drop()
		return false
	}
	return true
}

// enqueue hands an item to the peer's writer without blocking.
func (p *peer) enqueue(o outgoing) error {
	select {
	case <-p.done:
		return errClosed
	default:
	}
	select {
	case p.out <- o:
		return nil
	default:
		return errQueueFull
	}
}

// enqueueWait hands an item to the peer's writer, waiting up to timeout for room: a reply
// must not be lost because the front end reads slower than the kernel answers.
func (p *peer) enqueueWait(o outgoing, timeout time.Duration) error {
	if err := p.enqueue(o); err != errQueueFull {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p.out <- o:
		return nil
	case <-p.done:
		return errClosed
	case <-t.C:
		return errQueueFull
	}
}

// drop disconnects the peer; its goroutines end.
func (p *peer) drop() {
	p.once.Do(func() {
		close(p.done)
		p.raw.Close()
		s := p.s
		s.mu.Lock()
		delete(s.peers, p)
		if p.id != nil && s.byID[string(p.id)] == p {
			delete(s.byID, string(p.id))
		}
		s.mu.Unlock()
	})
}

// route sends a ROUTER message: frames[0] is the peer identity, not sent on the wire.
// fallbackSingle routes to the only connected peer when no peer has the identity; the
// stdin channel uses it for frontends whose stdin and shell identities differ.
func (s *zsocket) route(frames [][]byte, fallbackSingle bool) error {
	if len(frames) < 2 {
		return errors.New("route: no identity frame")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	p := s.byID[string(frames[0])]
	if p == nil && fallbackSingle && len(s.peers) == 1 {
		for only := range s.peers {
			p = only
		}
	}
	s.mu.Unlock()
	if p == nil {
		return errUnroutable
	}
	return p.enqueueWait(outgoing{frames: frames[1:]}, writeTimeout)
}

// publish sends frames to every peer subscribed to a prefix of frames[0].
func (s *zsocket) publish(frames [][]byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	peers := make([]*peer, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, p := range peers {
		if !p.subscribed(frames[0]) {
			continue
		}
		if err := p.enqueue(outgoing{frames: frames}); err != nil {
			s.log.Warn("iopub message not delivered to a subscriber", "err", err)
		}
	}
	return nil
}

// close stops accepting, lets every peer's writer send what is already queued (for at
// most linger), disconnects the peers and waits for all goroutines.
func (s *zsocket) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.lingerUntil = time.Now().Add(linger)
	err := s.ln.Close()
	for c := range s.pending {
		c.Close()
	}
	peers := make([]*peer, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, p := range peers {
		p.dlMu.Lock()
		p.lingerSet = true
		_ = p.raw.SetWriteDeadline(s.lingerUntil) // also bounds a write in progress
		p.dlMu.Unlock()
		p.lingerOnce.Do(func() { close(p.lingering) })
	}
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close %s socket: %w", s.name, err)
	}
	return nil
}
