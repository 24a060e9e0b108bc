package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gostudy/gostudy/kernel/internal/reaper"
)

// Output receives what the runner prints, as it prints it, and its events, each after the
// text printed before it and before the text printed after it.
type Output interface {
	Stream(name, text string)
	// Event handles one event; it must not block for long (the streams wait for it).
	Event(ev Event)
}

// Client is the kernel's handle on a runner process.
type Client struct {
	cmd    *exec.Cmd
	cmdW   *os.File
	encMu  sync.Mutex
	enc    *json.Encoder
	out    Output
	ready  chan struct{}
	exited chan struct{}
	exitMu sync.Mutex
	exit   error
	pumps  [2]*pump

	delMu        sync.Mutex
	delivered    *sync.Cond
	deliveredN   uint64
	eventsClosed bool
	Pid          int
}

// Start launches the runner binary bin in directory dir and waits until it is ready.
func Start(ctx context.Context, bin, dir string, env []string, out Output) (*Client, error) {
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner command pipe: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner event pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner stderr pipe: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	// Own session: the kernel can kill the runner and whatever a cell started, and a SIGINT
	// sent to the kernel's group does not reach cells. If the kernel dies the runner gets
	// SIGTERM, kills what cells started and exits (a SIGKILL would leave that behind).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := reaper.Start(cmd); err != nil {
		for _, f := range []*os.File{cmdR, cmdW, evR, evW, outR, outW, errR, errW} {
			f.Close()
		}
		return nil, fmt.Errorf("start runner %s: %w", bin, err)
	}
	for _, f := range []*os.File{cmdR, evW, outW, errW} {
		f.Close()
	}
	c := &Client{
		cmd: cmd, cmdW: cmdW, enc: json.NewEncoder(cmdW), out: out,
		ready: make(chan struct{}), exited: make(chan struct{}),
		pumps: [2]*pump{newPump("stdout", outR, out), newPump("stderr", errR, out)},
		Pid:   cmd.Process.Pid,
	}
	c.delivered = sync.NewCond(&c.delMu)
	for _, p := range c.pumps {
		p.client = c
	}
	go c.pumps[0].run()
	go c.pumps[1].run()
	go c.readEvents(evR)
	go func() {
		err := cmd.Wait()
		// Let the pumps forward what the runner printed last (a crash message).
		c.pumps[0].waitClosed(2 * time.Second)
		c.pumps[1].waitClosed(2 * time.Second)
		c.exitMu.Lock()
		c.exit = err
		c.exitMu.Unlock()
		close(c.exited)
	}()
	select {
	case <-c.ready:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("runner exited at start: %v", c.ExitErr())
	case <-ctx.Done():
		c.Kill()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		c.Kill()
		return nil, errors.New("runner did not become ready within 60s")
	}
}

// Send writes a command to the runner.
func (c *Client) Send(cmd Command) error {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	if err := c.enc.Encode(cmd); err != nil {
		return fmt.Errorf("send %s to runner: %w", cmd.Op, err)
	}
	return nil
}

// Exited is closed when the runner process has exited.
func (c *Client) Exited() <-chan struct{} { return c.exited }

// ExitErr is the runner's exit status, once Exited is closed.
func (c *Client) ExitErr() error {
	c.exitMu.Lock()
	defer c.exitMu.Unlock()
	return c.exit
}

// Kill stops the runner and every process a cell started, and waits for it to exit.
func (c *Client) Kill() {
	reaper.Kill(c.cmd.Process.Pid)
	_ = c.cmd.Process.Kill()
	c.cmdW.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

// Close asks the runner to exit by closing its command pipe, then kills it if needed.
func (c *Client) Close() {
	c.cmdW.Close()
	select {
	case <-c.exited:
	case <-time.After(time.Second):
	}
	c.Kill()
}

func (c *Client) readEvents(r io.ReadCloser) {
	defer func() {
		c.delMu.Lock()
		c.eventsClosed = true
		c.delivered.Broadcast()
		c.delMu.Unlock()
	}()
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := readLine(br, MaxEventSize)
		if errors.Is(err, errLineTooLong) {
			// Skip it, and say so: a display too large to forward must not stop the events
			// after it (the end of the cell among them).
			c.out.Stream("stderr", fmt.Sprintf("gostudy: an output of more than %d MiB was not shown (the limit for one display)\n", MaxEventSize>>20))
			continue
		}
		if err != nil {
			return
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			c.out.Stream("stderr", fmt.Sprintf("gostudy: unreadable event from the runner: %v\n", err))
			continue
		}
		if ev.Ev == EvReady {
			close(c.ready)
			continue
		}
		if ev.Sync > 0 {
			// Hold the event until both streams have been forwarded up to its marker.
			deadline := time.Now().Add(2 * time.Second)
			for _, p := range c.pumps {
				p.waitFor(ev.Sync, deadline)
			}
		}
		c.out.Event(ev)
		// Now the streams may forward what was printed after the event.
		c.delMu.Lock()
		if ev.Sync > c.deliveredN {
			c.deliveredN = ev.Sync
		}
		c.delivered.Broadcast()
		c.delMu.Unlock()
	}
}

// MaxEventSize bounds one event from the runner (a display with its images, in JSON).
// Larger ones are dropped with a note on the cell's stderr.
const MaxEventSize = 256 << 20

var errLineTooLong = errors.New("line too long")

// readLine reads one newline-terminated line of at most limit bytes. A longer line is
// consumed and reported as errLineTooLong, so reading can go on after it.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit+1 { // +1: the newline
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong && err == nil {
			return nil, errLineTooLong
		}
		return line, err
	}
}

// waitDelivered blocks until event n was handled, the event pipe closed, or the deadline.
func (c *Client) waitDelivered(n uint64, deadline time.Time) {
	waitUntil(&c.delMu, c.delivered, deadline, func() bool { return c.deliveredN >= n || c.eventsClosed })
}

// waitUntil waits on cond (whose lock is mu) until done reports true or the deadline passes.
// done is called with mu held.
func waitUntil(mu *sync.Mutex, cond *sync.Cond, deadline time.Time, done func() bool) {
	stop := time.AfterFunc(time.Until(deadline), func() {
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	})
	defer stop.Stop()
	mu.Lock()
	defer mu.Unlock()
	for !done() && time.Now().Before(deadline) {
		cond.Wait()
	}
}

// pump forwards one output stream of the runner, removing sync markers and recording the
// highest marker seen.
type pump struct {
	client  *Client
	name    string
	r       io.ReadCloser
	out     Output
	mu      sync.Mutex
	cond    *sync.Cond
	reached uint64
	closed  bool
}

func newPump(name string, r io.ReadCloser, out Output) *pump {
	p := &pump{name: name, r: r, out: out}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pump) run() {
	defer func() {
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
		p.r.Close()
	}()
	prefix := []byte(syncPrefix)
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := p.r.Read(buf)
		if n > 0 {
			data := append(pending, buf[:n]...)
			pending = nil
			for len(data) > 0 {
				i := bytes.Index(data, prefix)
				if i < 0 {
					keep := partialSuffix(data, prefix)
					text, rest := splitUTF8(data[:len(data)-keep])
					p.emit(text)
					pending = append(append(pending, rest...), data[len(data)-keep:]...)
					break
				}
				p.emit(data[:i])
				end := bytes.IndexByte(data[i+len(prefix):], 0)
				if end < 0 {
					pending = append(pending, data[i:]...)
					break
				}
				num, _ := strconv.ParseUint(string(data[i+len(prefix):i+len(prefix)+end]), 10, 64)
				p.mu.Lock()
				if num > p.reached {
					p.reached = num
				}
				p.cond.Broadcast()
				p.mu.Unlock()
				// Text after the marker waits until its event reached the notebook.
				p.client.waitDelivered(num, time.Now().Add(2*time.Second))
				data = data[i+len(prefix)+end+1:]
			}
		}
		if err != nil {
			if len(pending) > 0 {
				p.emit(pending)
			}
			return
		}
	}
}

func (p *pump) emit(b []byte) {
	if len(b) > 0 && p.out != nil {
		p.out.Stream(p.name, string(b))
	}
}

// waitFor blocks until the stream passed marker n, closed, or the deadline passed (a cell
// that replaced os.Stdout never shows the marker; its events must not wait forever).
func (p *pump) waitFor(n uint64, deadline time.Time) {
	waitUntil(&p.mu, p.cond, deadline, func() bool { return p.reached >= n || p.closed })
}

func (p *pump) waitClosed(d time.Duration) {
	p.waitFor(^uint64(0), time.Now().Add(d))
}

// partialSuffix returns how many bytes at the end of data could start prefix.
func partialSuffix(data, prefix []byte) int {
	for k := min(len(prefix)-1, len(data)); k > 0; k-- {
		if bytes.Equal(data[len(data)-k:], prefix[:k]) {
			return k
		}
	}
	return 0
}

// splitUTF8 splits off an incomplete UTF-8 sequence at the end of b, so a character cut in
// two by a read is sent whole with the next chunk.
func splitUTF8(b []byte) (complete, rest []byte) {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return b, nil
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i], b[len(b)-i:]
			}
			return b, nil
		}
	}
	return b, nil
}
