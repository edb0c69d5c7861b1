package inspect

import "bytes"

// A response may spell a card number or an e-mail address through escapes
// its client decodes: JSON and JavaScript (`\u0034111 1111 1111 1111`,
// `mary\u0040example.com`, `"note":"call\n4111..."`), percent-encoding
// (`?email=mary%40example.com`) or HTML character references
// (`mary&#64;example.com`). The masker reads a view of the text with those
// escapes decoded and replaces what it finds in the text as written.
//
// Only escapes of ASCII characters are decoded (the finders read ASCII);
// others stay as written, as does anything that is not a complete escape.
// Decoding is one pass: an escape does not make another (`\u0025` is `%`,
// never the start of a percent-escape).

// maxEscape is the longest escape decoded: `&#x0000040;` and shorter.
const maxEscape = 12

// hasEscapes reports whether src holds an escape to decode, or, when more
// may follow (final is false), ends inside what may be one.
func hasEscapes(src []byte, final bool) bool {
	// The next candidate of each kind, found with IndexByte so that a text
	// without any costs three fast scans.
	next := [3]int{nextByte(src, 0, '\\'), nextByte(src, 0, '%'), nextByte(src, 0, '&')}
	for {
		k := -1
		for j, n := range next {
			if n >= 0 && (k < 0 || n < next[k]) {
				k = j
			}
		}
		if k < 0 {
			return false
		}
		if _, n := escapeAt(src, next[k], final); n != 0 {
			return true
		}
		next[k] = nextByte(src, next[k]+1, src[next[k]])
	}
}

func nextByte(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// unescape appends to text the view of src with its escapes decoded, and to
// pos where each byte of the view starts in src, plus one last entry: where
// the view ends in src. That is len(src), unless src ends inside what may be
// an escape and final is false: the view then stops before it, for the next
// write to complete.
func unescape(text []byte, pos []int, src []byte, final bool) ([]byte, []int) {
	for i := 0; i < len(src); {
		c := src[i]
		if c == '\\' || c == '%' || c == '&' {
			d, n := escapeAt(src, i, final)
			if n < 0 {
				return text, append(pos, i)
			}
			if n > 0 {
				text, pos = append(text, d), append(pos, i)
				i += n
				continue
			}
		}
		text, pos = append(text, c), append(pos, i)
		i++
	}
	return text, append(pos, len(src))
}

// escapeAt decodes the escape at src[i]: the character and the escape's
// length; n is 0 when there is no escape of an ASCII character there, and -1
// when src ends too soon to tell and more may follow (final is false).
func escapeAt(src []byte, i int, final bool) (c byte, n int) {
	rest := src[i:]
	switch rest[0] {
	case '\\':
		if len(rest) < 2 {
			return 0, short(final)
		}
		switch rest[1] {
		case '"', '\\', '/':
			return rest[1], 2
		case 'b':
			return '\b', 2
		case 'f':
			return '\f', 2
		case 'n':
			return '\n', 2
		case 'r':
			return '\r', 2
		case 't':
			return '\t', 2
		case 'u':
			return hexEscape(rest, 2, 4, final)
		}
	case '%':
		return hexEscape(rest, 1, 2, final)
	case '&':
		return charRef(rest, final)
	}
	return 0, 0
}

func short(final bool) int {
	if final {
		return 0
	}
	return -1
}

// hexEscape reads digits hex digits after a prefix of skip bytes.
func hexEscape(rest []byte, skip, digits int, final bool) (byte, int) {
	v := 0
	for k := skip; k < skip+digits; k++ {
		if k == len(rest) {
			return 0, short(final)
		}
		h := hexValue(rest[k])
		if h < 0 {
			return 0, 0
		}
		v = v<<4 | h
	}
	if v >= 0x80 {
		return 0, 0
	}
	return byte(v), skip + digits
}

// charRef reads an HTML numeric character reference, `&#64;` or `&#x40;`.
func charRef(rest []byte, final bool) (byte, int) {
	k, base := 2, 10
	if len(rest) < 2 {
		return 0, short(final)
	}
	if rest[1] != '#' {
		return 0, 0
	}
	if len(rest) > 2 && (rest[2] == 'x' || rest[2] == 'X') {
		k, base = 3, 16
	}
	v, digits := 0, 0
	for ; k < len(rest) && k < maxEscape; k++ {
		c := rest[k]
		if c == ';' {
			if digits == 0 || v >= 0x80 {
				return 0, 0
			}
			return byte(v), k + 1
		}
		h := hexValue(c)
		if h < 0 || h >= base {
			return 0, 0
		}
		digits++
		if v = v*base + h; v >= 0x80 {
			return 0, 0
		}
	}
	if k == len(rest) && k < maxEscape {
		return 0, short(final)
	}
	return 0, 0
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// rawAt returns where byte i of a view starts in its source (pos nil: the
// view is the source).
func rawAt(pos []int, i int) int {
	if pos == nil {
		return i
	}
	return pos[i]
}
