package display

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// OutEnv names the environment variable that sets the default publisher's output folder.
const OutEnv = "GOSTUDY_OUT"

// DefaultOutDir is the output folder when GOSTUDY_OUT is unset.
const DefaultOutDir = "out"

// FilePublisher is the publisher used outside the kernel. Each display that carries an image,
// HTML or JSON is written to a file in Dir (SVG, then PNG, JPEG, HTML, JSON: the first the
// bundle has) and one line naming the file is printed on Out; a display with only text
// (text/plain, Markdown, LaTeX) is printed on Out. An update of a display id rewrites that
// display's file without printing again, so a live plot leaves one file with its last state.
// clear_output does nothing. Input reads lines from In.
//
// Files are named <prefix>-<n>.<ext>, n counting displays from 1 in this process; the prefix
// defaults to the program's name (a test binary is "<package>.test"), so runs of different
// programs into the same folder do not overwrite each other, and re-running a program
// replaces its previous files.
type FilePublisher struct {
	// Dir is the output folder; empty means $GOSTUDY_OUT, or "out" when that is unset. It is
	// created on the first write.
	Dir string
	// Prefix starts every file name; empty means the program's base name.
	Prefix string
	// Out receives text displays and the lines naming files (default os.Stdout).
	Out io.Writer
	// Err receives text progress bars (default os.Stderr).
	Err io.Writer
	// In is read by Input (default os.Stdin).
	In io.Reader

	mu     sync.Mutex
	n      int
	files  map[string]string // display id → file written for it
	reader *bufio.Reader
	readOf io.Reader
}

// NewFilePublisher returns a FilePublisher with the defaults described on the type.
func NewFilePublisher() *FilePublisher { return &FilePublisher{} }

// TerminalWriter implements [Terminal]: live widgets write plain text to Err.
func (f *FilePublisher) TerminalWriter() io.Writer {
	if f.Err != nil {
		return f.Err
	}
	return os.Stderr
}

func (f *FilePublisher) out() io.Writer {
	if f.Out != nil {
		return f.Out
	}
	return os.Stdout
}

// OutDir returns the folder files are written to.
func (f *FilePublisher) OutDir() string {
	if f.Dir != "" {
		return f.Dir
	}
	if d := os.Getenv(OutEnv); d != "" {
		return d
	}
	return DefaultOutDir
}

func (f *FilePublisher) prefix() string {
	if f.Prefix != "" {
		return f.Prefix
	}
	base := filepath.Base(os.Args[0])
	if base == "" || base == "." || base == string(filepath.Separator) {
		return "display"
	}
	return base
}

// fileKinds lists, in order of preference, the bundle entries written to files.
var fileKinds = []struct {
	mime, ext string
	binary    bool
}{
	{MIMESVG, "svg", false},
	{MIMEPNG, "png", true},
	{MIMEJPEG, "jpg", true},
	{MIMEHTML, "html", false},
	{MIMEJSON, "json", false},
}

// Publish implements [Publisher].
func (f *FilePublisher) Publish(m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Type == TypeClearOutput {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range fileKinds {
		v, ok := m.Data[k.mime]
		if !ok {
			continue
		}
		data, err := entryBytes(v, k.binary)
		if err != nil {
			return fmt.Errorf("%s: %w", k.mime, err)
		}
		return f.writeFile(m, k.ext, k.mime, data)
	}
	for _, mime := range []string{MIMEText, MIMEMarkdown, MIMELaTeX} {
		if s, ok := m.Data[mime].(string); ok {
			if m.Type == TypeUpdateDisplayData {
				// Printing every update of a live text display would flood the log.
				return nil
			}
			_, err := fmt.Fprintln(f.out(), s)
			return err
		}
	}
	return fmt.Errorf("no MIME type the file publisher can show (have %v)", mimeTypes(m.Data))
}

func (f *FilePublisher) writeFile(m Message, ext, mime string, data []byte) error {
	if f.files == nil {
		f.files = map[string]string{}
	}
	path, known := "", false
	if m.DisplayID != "" {
		path, known = f.files[m.DisplayID]
		if known && filepath.Ext(path) != "."+ext {
			known = false // the display changed kind: give it a new file
		}
	}
	if !known {
		f.n++
		path = filepath.Join(f.OutDir(), fmt.Sprintf("%s-%03d.%s", f.prefix(), f.n, ext))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if m.DisplayID != "" {
		f.files[m.DisplayID] = path
	}
	if known {
		return nil
	}
	_, err := fmt.Fprintf(f.out(), "[display %s] %s\n", mime, path)
	return err
}

func entryBytes(v any, binary bool) ([]byte, error) {
	if binary {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("binary entry is %T, want a base64 string", v)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("decode base64: %w", err)
		}
		return b, nil
	}
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return b, nil
}

func mimeTypes(b Bundle) []string {
	var out []string
	for k := range b {
		out = append(out, k)
	}
	return out
}

// Input implements [Publisher]: it writes the prompt on Err and reads one line from In. A
// terminal still echoes passwords: hiding them needs a terminal library this package avoids.
func (f *FilePublisher) Input(prompt string, password bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.In
	if in == nil {
		in = os.Stdin
	}
	if f.reader == nil || f.readOf != in {
		f.reader, f.readOf = bufio.NewReader(in), in
	}
	if _, err := io.WriteString(f.TerminalWriter(), prompt); err != nil {
		return "", fmt.Errorf("write prompt: %w", err)
	}
	line, err := f.reader.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
