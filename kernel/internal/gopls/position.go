package gopls

import (
	"bytes"
	"unicode/utf8"
)

// Position is an LSP position: a zero-based line and a character offset in that line
// counted in UTF-16 code units, as the Language Server Protocol requires by default.
type Position struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

// Offsets into source text come in three units: Go's byte offsets, LSP's UTF-16 code
// units, and Jupyter's cursor_pos, which the messaging spec (5.2 and later) counts in
// Unicode code points. The helpers below convert between them. An invalid UTF-8 byte
// counts as one code point and one UTF-16 unit (it decodes to U+FFFD). Byte offsets
// inside a multi-byte character are rounded down to its first byte, and offsets past
// the end are clamped to the end.

// runeUnits returns the UTF-16 length of r.
func runeUnits(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// UTF16Len returns the length of text in UTF-16 code units.
func UTF16Len(text []byte) int { return ByteToUTF16(text, len(text)) }

// ByteToUTF16 converts a byte offset in text to a UTF-16 offset.
func ByteToUTF16(text []byte, off int) int {
	off = clamp(off, len(text))
	n := 0
	for i := 0; i < off; {
		r, size := utf8.DecodeRune(text[i:])
		if i+size > off {
			break // off is inside this character
		}
		n += runeUnits(r)
		i += size
	}
	return n
}

// UTF16ToByte converts a UTF-16 offset in text to a byte offset. An offset that falls
// between the two halves of a surrogate pair maps to the start of that character.
func UTF16ToByte(text []byte, u int) int {
	n := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		w := runeUnits(r)
		if n+w > u {
			return i
		}
		n += w
		i += size
	}
	return len(text)
}

// ByteToRune converts a byte offset in text to a code point offset (Jupyter's unit).
func ByteToRune(text []byte, off int) int {
	off = clamp(off, len(text))
	n := 0
	for i := 0; i < off; {
		_, size := utf8.DecodeRune(text[i:])
		if i+size > off {
			break
		}
		n++
		i += size
	}
	return n
}

// RuneToByte converts a code point offset in text (Jupyter's cursor_pos) to a byte
// offset.
func RuneToByte(text []byte, r int) int {
	i := 0
	for n := 0; n < r && i < len(text); n++ {
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	return i
}

// OffsetToPosition converts a byte offset in text to an LSP position. Lines end at
// '\n' (a preceding '\r' counts as a character of the line, as gopls does for Go files).
func OffsetToPosition(text []byte, off int) Position {
	off = clamp(off, len(text))
	line, start := 0, 0
	for i := 0; i < off; i++ {
		if text[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return Position{Line: line, Character: ByteToUTF16(text[start:], off-start)}
}

// PositionToOffset converts an LSP position in text to a byte offset. A line past the
// end maps to the end of text; a character past the end of its line maps to the end of
// that line, as the LSP specification prescribes.
func PositionToOffset(text []byte, p Position) int {
	start := 0
	for line := 0; line < p.Line; line++ {
		nl := bytes.IndexByte(text[start:], '\n')
		if nl < 0 {
			return len(text)
		}
		start += nl + 1
	}
	end := len(text)
	if nl := bytes.IndexByte(text[start:], '\n'); nl >= 0 {
		end = start + nl
	}
	return start + UTF16ToByte(text[start:end], max(p.Character, 0))
}

func clamp(off, n int) int {
	return min(max(off, 0), n)
}
