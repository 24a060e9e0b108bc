package protocol

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// This file holds the listening ZeroMQ sockets. go-zeromq/zmq4 provides the ZMTP 3.0 wire
// protocol (greeting, NULL handshake, framing) through zmq4.Open and zmq4.Conn, and we use
// exactly that. Its socket types are not used, on purpose: in v0.17.0 a PUB socket's send
// goroutine is never stopped by Close, ROUTER/REP readers can block forever on an internal
// channel once nobody calls Recv, a REP socket tracks one pending request for all peers,
// and sends to a peer that stopped reading block the caller. A kernel must close without
// leaking goroutines and must not stall a cell because one frontend went away, so the
// socket semantics we need (ROUTER routing by identity, PUB prefix subscriptions, an echo
// for the heartbeat) are implemented here over zmq4.Conn with per-peer send queues.

const (
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds how long one message may take to reach a peer whose receive
	// buffer is full; past it the peer is considered gone and dropped.
	writeTimeout = time.Minute
	// peerQueue is the per-peer send high-water mark, as ZMQ_SNDHWM: messages beyond it
	// are dropped rather than blocking the kernel.
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
	kind  zmq4.SocketType // zmq4.Router, zmq4.Pub or zmq4.Rep
	name  string          // channel name, for logs
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

// peer is one connected frontend socket.
type peer struct {
	s    *zsocket
	raw  net.Conn
	zc   *zmq4.Conn
	id   []byte
	out  chan [][]byte
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
func listenZ(kind zmq4.SocketType, name, transport, ip string, port int, log *slog.Logger,
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
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	zc, err := zmq4.Open(c, null.Security(), s.kind, nil, true, nil)
	_ = c.SetDeadline(time.Time{})

	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, c)
	if err != nil || s.closed {
		c.Close()
		if err != nil && !s.closed {
			s.log.Warn("ZMTP handshake failed", "channel", s.name, "remote", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	p := &peer{
		s: s, raw: c, zc: zc,
		out:       make(chan [][]byte, peerQueue),
		done:      make(chan struct{}),
		lingering: make(chan struct{}),
		topics:    make(map[string]int),
	}
	if s.kind == zmq4.Router {
		p.id = []byte(zc.Peer.Meta["Identity"])
		if len(p.id) == 0 {
			// libzmq's convention for anonymous peers: a 0 byte then 4 random bytes.
			p.id = make([]byte, 5)
			_, _ = rand.Read(p.id[1:])
		}
		// The newest connection with an identity takes it over (ZMQ_ROUTER_HANDOVER):
		// a frontend that reconnects must get its replies on the new connection.
		s.byID[string(p.id)] = p
	}
	s.peers[p] = struct{}{}
	s.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
}

func (p *peer) readLoop() {
	defer p.s.wg.Done()
	defer p.drop()
	for {
		msg, err := p.zc.RecvMsg()
		if err != nil {
			select {
			case <-p.done:
			default:
				if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "EOF") {
					p.s.log.Debug("peer read ended", "channel", p.s.name, "err", err)
				}
			}
			return
		}
		if msg.Type == zmq4.CmdMsg || len(msg.Frames) == 0 {
			continue // ZMTP commands (PING is answered by zmq4 itself)
		}
		switch p.s.kind {
		case zmq4.Pub:
			p.subscription(msg.Frames)
			if p.s.onMsg != nil {
				p.s.onMsg(p, msg.Frames) // the server answers new subscriptions (iopub_welcome)
			}
		case zmq4.Router:
			frames := make([][]byte, 0, len(msg.Frames)+1)
			frames = append(frames, p.id)
			p.s.onMsg(p, append(frames, msg.Frames...))
		default:
			p.s.onMsg(p, msg.Frames)
		}
	}
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
		case frames := <-p.out:
			if !p.write(frames, time.Now().Add(writeTimeout)) {
				return
			}
		case <-p.lingering:
			deadline := p.s.lingerUntil
			for {
				select {
				case frames := <-p.out:
					if !p.write(frames, deadline) {
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

// write sends one message; on failure it drops the peer and reports false.
func (p *peer) write(frames [][]byte, deadline time.Time) bool {
	p.dlMu.Lock()
	if p.lingerSet && p.s.lingerUntil.Before(deadline) {
		deadline = p.s.lingerUntil
	}
	_ = p.raw.SetWriteDeadline(deadline)
	p.dlMu.Unlock()
	if err := p.zc.SendMsg(zmq4.NewMsgFrom(frames...)); err != nil {
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

// enqueue hands frames to the peer's writer without blocking.
func (p *peer) enqueue(frames [][]byte) error {
	select {
	case <-p.done:
		return errClosed
	default:
	}
	select {
	case p.out <- frames:
		return nil
	default:
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
	return p.enqueue(frames[1:])
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
		if err := p.enqueue(frames); err != nil {
			s.log.Warn("iopub message not delivered to a subscriber", "err", err)
		}
	}
	return nil
}

// peerCount reports how many peers completed the handshake.
func (s *zsocket) peerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
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
