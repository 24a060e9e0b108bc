package gopls

import (
	"testing"
	"unicode/utf16"
)

func TestOffsetConversions(t *testing.T) {
	// "a" (1 byte), "é" (2 bytes, 1 unit), "世" (3 bytes, 1 unit), "😀" (4 bytes, 2 units).
	text := []byte("aé世😀b")
	cases := []struct{ b, u, r int }{
		{0, 0, 0}, {1, 1, 1}, {3, 2, 2}, {6, 3, 3}, {10, 5, 4}, {11, 6, 5},
	}
	for _, c := range cases {
		if got := ByteToUTF16(text, c.b); got != c.u {
			t.Errorf("ByteToUTF16(%d) = %d, want %d", c.b, got, c.u)
		}
		if got := UTF16ToByte(text, c.u); got != c.b {
			t.Errorf("UTF16ToByte(%d) = %d, want %d", c.u, got, c.b)
		}
		if got := ByteToRune(text, c.b); got != c.r {
			t.Errorf("ByteToRune(%d) = %d, want %d", c.b, got, c.r)
		}
		if got := RuneToByte(text, c.r); got != c.b {
			t.Errorf("RuneToByte(%d) = %d, want %d", c.r, got, c.b)
		}
	}
	// The UTF-16 length agrees with Go's own UTF-16 encoder.
	if got, want := UTF16Len(text), len(utf16.Encode([]rune(string(text)))); got != want {
		t.Errorf("UTF16Len = %d, want %d", got, want)
	}
	// Inside a character: round down to its start.
	if got := ByteToUTF16(text, 8); got != 3 {
		t.Errorf("ByteToUTF16 inside the emoji = %d, want 3", got)
	}
	if got := UTF16ToByte(text, 4); got != 6 {
		t.Errorf("UTF16ToByte between surrogates = %d, want 6 (start of the emoji)", got)
	}
	// Clamping.
	if got := ByteToUTF16(text, 99); got != 6 {
		t.Errorf("ByteToUTF16 past the end = %d, want 6", got)
	}
	if got := UTF16ToByte(text, 99); got != len(text) {
		t.Errorf("UTF16ToByte past the end = %d", got)
	}
	if got := RuneToByte(text, -1); got != 0 {
		t.Errorf("RuneToByte(-1) = %d", got)
	}
	// Invalid UTF-8 counts one unit per byte.
	bad := []byte{'x', 0xff, 0xfe, 'y'}
	if got := ByteToUTF16(bad, 4); got != 4 {
		t.Errorf("ByteToUTF16 over invalid bytes = %d, want 4", got)
	}
	if got := UTF16ToByte(bad, 3); got != 3 {
		t.Errorf("UTF16ToByte over invalid bytes = %d, want 3", got)
	}
}

func TestPositions(t *testing.T) {
	text := []byte("package main\n\n// 😀 héllo\nfunc f() {}\r\nx")
	cases := []struct {
		off int
		pos Position
	}{
		{0, Position{0, 0}},
		{12, Position{0, 12}}, // end of line 0
		{13, Position{1, 0}},  // empty line
		{14, Position{2, 0}},  // start of the comment line
		{17, Position{2, 3}},  // before the emoji
		{21, Position{2, 5}},  // after the emoji (2 UTF-16 units)
		{25, Position{2, 8}},  // after "hé"
		{40, Position{3, 11}}, // before "\r\n"
		{41, Position{3, 12}}, // the '\r' is a character of its line
		{43, Position{4, 1}},  // end of text
	}
	for _, c := range cases {
		if got := OffsetToPosition(text, c.off); got != c.pos {
			t.Errorf("OffsetToPosition(%d) = %+v, want %+v", c.off, got, c.pos)
		}
		if got := PositionToOffset(text, c.pos); got != c.off {
			t.Errorf("PositionToOffset(%+v) = %d, want %d", c.pos, got, c.off)
		}
	}
	// Past the end of a line: the end of that line. Past the last line: the end.
	if got := PositionToOffset(text, Position{1, 40}); got != 13 {
		t.Errorf("character past the end of line 1 = %d, want 13", got)
	}
	if got := PositionToOffset(text, Position{9, 0}); got != len(text) {
		t.Errorf("line past the end = %d, want %d", got, len(text))
	}
}

func TestIdentStart(t *testing.T) {
	text := []byte("x := fmt.Prïnt")
	if got := identStart(text, len(text)); got != 9 {
		t.Errorf("identStart = %d, want 9", got)
	}
	if got := identStart(text, 9); got != 9 {
		t.Errorf("identStart right after a dot = %d, want 9", got)
	}
}

func TestMarkup(t *testing.T) {
	cases := map[string]string{
		`"plain"`:                                "plain",
		`{"kind":"markdown","value":"**b**"}`:    "**b**",
		`{"language":"go","value":"func f()"}`:   "```go\nfunc f()\n```",
		`["a",{"kind":"plaintext","value":"b"}]`: "a\n\nb",
		`null`:                                   "",
	}
	for in, want := range cases {
		if got := markup([]byte(in)); got != want {
			t.Errorf("markup(%s) = %q, want %q", in, got, want)
		}
	}
}
