package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ProtocolVersion is the Jupyter messaging protocol version this package speaks.
const ProtocolVersion = "5.3"

// delimiter separates the routing identities from the signed part of a message.
var delimiter = []byte("<IDS|MSG>")

// Header is a Jupyter message header (also used as a parent header).
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// MarshalJSON writes the zero Header as {} because the spec says a message without a
// parent carries an empty parent_header dict, not one with empty strings.
func (h Header) MarshalJSON() ([]byte, error) {
	if h == (Header{}) {
		return []byte("{}"), nil
	}
	type plain Header // no MarshalJSON method: avoids recursion
	return json.Marshal(plain(h))
}

// Message is one Jupyter message as it travels on a socket.
type Message struct {
	// Identities are the ZeroMQ routing frames before "<IDS|MSG>"; replies must carry the
	// request's identities so the ROUTER socket delivers them to the right frontend.
	Identities   [][]byte
	Header       Header
	ParentHeader Header
	Metadata     map[string]any
	// Content is the message body, always a JSON object.
	Content json.RawMessage
	Buffers [][]byte

	// rawHeader is the header frame exactly as received. Replies echo it as their
	// parent_header, so fields this package does not model (e.g. subshell_id) survive.
	rawHeader []byte
	// parentRaw is the parent's rawHeader, sent instead of ParentHeader while the two
	// agree.
	parentRaw []byte
}

// DecodeContent unmarshals the message content into v.
func (m *Message) DecodeContent(v any) error {
	if err := json.Unmarshal(m.Content, v); err != nil {
		return fmt.Errorf("decode %s content: %w", m.Header.MsgType, err)
	}
	return nil
}

// now returns the current time in the ISO 8601 form Jupyter uses for header dates.
func now() string {
	return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// newMsgID returns a fresh message id (a random UUID, as jupyter_client uses).
func newMsgID() string { return uuid.NewString() }

// signer computes and checks message signatures. A nil key means signing is disabled
// (Jupyter's convention for an empty key): signatures are sent empty and not checked.
type signer struct {
	newHash func() hash.Hash
	key     []byte
}

func newSigner(scheme, key string) (*signer, error) {
	s := &signer{}
	if key != "" {
		s.key = []byte(key)
	}
	switch scheme {
	case "hmac-sha256", "":
		s.newHash = sha256.New
	case "hmac-sha512":
		s.newHash = sha512.New
	case "hmac-sha1":
		s.newHash = sha1.New
	default:
		return nil, fmt.Errorf("unsupported signature scheme %q", scheme)
	}
	return s, nil
}

// sign returns the lowercase hex HMAC of the concatenated frames (header, parent header,
// metadata, content), or an empty signature when signing is disabled.
func (s *signer) sign(frames ...[]byte) []byte {
	if s.key == nil {
		return []byte{}
	}
	mac := hmac.New(s.newHash, s.key)
	for _, f := range frames {
		mac.Write(f)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// verify checks sig against the frames in constant time.
func (s *signer) verify(sig []byte, frames ...[]byte) bool {
	if s.key == nil {
		return true
	}
	got := make([]byte, hex.DecodedLen(len(sig)))
	if _, err := hex.Decode(got, sig); err != nil {
		return false
	}
	mac := hmac.New(s.newHash, s.key)
	for _, f := range frames {
		mac.Write(f)
	}
	return hmac.Equal(got, mac.Sum(nil))
}

// replayGuard remembers recent signatures so a captured message cannot be replayed,
// as jupyter_client's Session does with its digest history.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

const replayHistory = 1 << 16

func newReplayGuard() *replayGuard {
	return &replayGuard{seen: make(map[string]struct{}), ring: make([]string, replayHistory)}
}

// fresh records a message digest and reports whether it had not been seen before.
func (g *replayGuard) fresh(sig []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := string(sig)
	if _, dup := g.seen[k]; dup {
		return false
	}
	if old := g.ring[g.next]; old != "" {
		delete(g.seen, old)
	}
	g.ring[g.next] = k
	g.next = (g.next + 1) % len(g.ring)
	g.seen[k] = struct{}{}
	return true
}

// Errors returned by decode; the server logs them and drops the message.
var (
	errNoDelimiter  = errors.New("no <IDS|MSG> delimiter")
	errShort        = errors.New("fewer than 5 frames after the delimiter")
	errBadSignature = errors.New("bad signature")
	errReplayed     = errors.New("duplicate signature (replayed message)")
)

// decode parses the frames of one message and checks its signature.
func decode(frames [][]byte, s *signer) (*Message, error) {
	idx := -1
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, errNoDelimiter
	}
	rest := frames[idx+1:]
	if len(rest) < 5 {
		return nil, errShort
	}
	sig, header, parent, metadata, content := rest[0], rest[1], rest[2], rest[3], rest[4]
	if s.key != nil && len(sig) == 0 {
		return nil, fmt.Errorf("%w: message is unsigned", errBadSignature)
	}
	if !s.verify(sig, header, parent, metadata, content) {
		return nil, errBadSignature
	}
	m := &Message{rawHeader: bytes.Clone(header)}
	if err := json.Unmarshal(header, &m.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if m.Header.MsgType == "" || m.Header.MsgID == "" {
		return nil, errors.New("header lacks msg_id or msg_type")
	}
	if err := json.Unmarshal(parent, &m.ParentHeader); err != nil {
		return nil, fmt.Errorf("parent_header: %w", err)
	}
	if err := json.Unmarshal(metadata, &m.Metadata); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if !isJSONObject(content) {
		return nil, errors.New("content is not a JSON object")
	}
	m.Content = json.RawMessage(bytes.Clone(content))
	for _, id := range frames[:idx] {
		m.Identities = append(m.Identities, bytes.Clone(id))
	}
	for _, b := range rest[5:] {
		m.Buffers = append(m.Buffers, bytes.Clone(b))
	}
	return m, nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// encode returns the wire frames of m, signed.
func encode(m *Message, s *signer) ([][]byte, error) {
	header, err := json.Marshal(m.Header)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	var parent []byte
	if len(m.parentRaw) > 0 {
		var h Header
		if json.Unmarshal(m.parentRaw, &h) == nil && h == m.ParentHeader {
			parent = m.parentRaw
		}
	}
	if len(parent) == 0 {
		if parent, err = json.Marshal(m.ParentHeader); err != nil {
			return nil, fmt.Errorf("encode parent header: %w", err)
		}
	}
	metadata := []byte("{}")
	if m.Metadata != nil {
		if metadata, err = json.Marshal(m.Metadata); err != nil {
			return nil, fmt.Errorf("encode metadata: %w", err)
		}
	}
	content := []byte(m.Content)
	if len(content) == 0 {
		content = []byte("{}")
	}
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	frames = append(frames, delimiter, s.sign(header, parent, metadata, content), header, parent, metadata, content)
	frames = append(frames, m.Buffers...)
	return frames, nil
}

// marshalContent turns a reply or broadcast body into JSON; nil becomes {}.
func marshalContent(content any) (json.RawMessage, error) {
	switch c := content.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		if !isJSONObject(c) {
			return nil, errors.New("content is not a JSON object")
		}
		return c, nil
	}
	b, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	if !isJSONObject(b) {
		return nil, fmt.Errorf("content of type %T is not a JSON object", content)
	}
	return b, nil
}
