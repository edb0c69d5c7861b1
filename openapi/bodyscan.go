package openapi

import (
	"bytes"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// scanVerdict is what scanJSON makes of a body.
type scanVerdict uint8

const (
	scanOK        scanVerdict = iota
	scanInvalid               // not one JSON value as encoding/json decodes it
	scanUndecided             // valid, but an object repeats a key: the library decides
)

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// scanner checks a body's syntax in one pass, as the library's decoder
// (encoding/json into an any) would accept it: one value, numbers a float64
// holds, at most maxNesting levels. It also finds objects that repeat a key,
// which encoding/json resolves by keeping the last one: bodySchema checks every
// occurrence, so such bodies go to the library. It allocates only for an
// object of more than dupScanLimit keys.
type scanner struct {
	data      []byte
	keys      [][]byte // the keys of the objects being scanned, innermost last
	depth     int
	undecided bool
}

// dupScanLimit is how many keys an object may have before repeated keys are
// found with a map rather than by comparing every pair.
const dupScanLimit = 32

func scanJSON(data []byte, keys [][]byte) (scanVerdict, [][]byte) {
	sc := scanner{data: data, keys: keys[:0]}
	i := sc.ws(0)
	i = sc.value(i)
	if i < 0 || sc.ws(i) != len(data) {
		return scanInvalid, sc.keys
	}
	if sc.undecided {
		return scanUndecided, sc.keys
	}
	return scanOK, sc.keys
}

func (sc *scanner) ws(i int) int {
	for i < len(sc.data) {
		switch sc.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value scans the value at i and returns the index after it, or -1.
func (sc *scanner) value(i int) int {
	if i >= len(sc.data) {
		return -1
	}
	switch c := sc.data[i]; {
	case c == '{':
		return sc.object(i)
	case c == '[':
		return sc.array(i)
	case c == '"':
		end, _, _ := sc.str(i)
		return end
	case c == 't':
		return sc.literal(i, "true")
	case c == 'f':
		return sc.literal(i, "false")
	case c == 'n':
		return sc.literal(i, "null")
	default:
		return sc.number(i)
	}
}

func (sc *scanner) literal(i int, lit string) int {
	if len(sc.data)-i >= len(lit) && string(sc.data[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

func (sc *scanner) object(i int) int {
	if sc.depth++; sc.depth > maxNesting {
		return -1
	}
	first := len(sc.keys)
	var seen map[string]struct{}
	i = sc.ws(i + 1)
	if i < len(sc.data) && sc.data[i] == '}' {
		sc.depth--
		return i + 1
	}
	for {
		if i >= len(sc.data) || sc.data[i] != '"' {
			return -1
		}
		end, escaped, nonASCII := sc.str(i)
		if end < 0 {
			return -1
		}
		seen = sc.key(first, seen, sc.data[i+1:end-1], escaped, nonASCII)
		i = sc.ws(end)
		if i >= len(sc.data) || sc.data[i] != ':' {
			return -1
		}
		if i = sc.value(sc.ws(i + 1)); i < 0 {
			return -1
		}
		var closed bool
		if i, closed = sc.after(i, '}'); closed || i < 0 {
			sc.keys = sc.keys[:first]
			return i
		}
	}
}

// key records a key of the object whose keys start at first, and marks the
// body undecided when the object already has it, or when the key's decoded
// form may differ from its bytes. Beyond dupScanLimit keys, an object's keys
// move into seen.
func (sc *scanner) key(first int, seen map[string]struct{}, raw []byte, escaped, nonASCII bool) map[string]struct{} {
	if sc.undecided {
		return seen
	}
	if escaped || nonASCII && !utf8.Valid(raw) {
		sc.undecided = true
		return seen
	}
	if seen == nil && len(sc.keys)-first >= dupScanLimit {
		seen = make(map[string]struct{}, 2*dupScanLimit)
		for _, k := range sc.keys[first:] {
			seen[string(k)] = struct{}{}
		}
		sc.keys = sc.keys[:first]
	}
	if seen != nil {
		if _, dup := seen[string(raw)]; dup {
			sc.undecided = true
		}
		seen[string(raw)] = struct{}{}
		return seen
	}
	for _, k := range sc.keys[first:] {
		if bytes.Equal(k, raw) {
			sc.undecided = true
			return seen
		}
	}
	sc.keys = append(sc.keys, raw)
	return seen
}

func (sc *scanner) array(i int) int {
	if sc.depth++; sc.depth > maxNesting {
		return -1
	}
	i = sc.ws(i + 1)
	if i < len(sc.data) && sc.data[i] == ']' {
		sc.depth--
		return i + 1
	}
	for {
		if i = sc.value(i); i < 0 {
			return -1
		}
		var closed bool
		if i, closed = sc.after(i, ']'); closed || i < 0 {
			return i
		}
	}
}

// after reads what follows a member of an object or array: a comma, then
// more members, or the closing byte. It returns the index after it and
// whether the container closed, or -1.
func (sc *scanner) after(i int, closer byte) (int, bool) {
	i = sc.ws(i)
	switch {
	case i >= len(sc.data):
		return -1, false
	case sc.data[i] == ',':
		return sc.ws(i + 1), false
	case sc.data[i] == closer:
		sc.depth--
		return i + 1, true
	}
	return -1, false
}

// str scans the string at i: the index after its closing quote (or -1),
// whether it holds an escape, and whether it holds a byte beyond ASCII.
func (sc *scanner) str(i int) (end int, escaped, nonASCII bool) {
	d := sc.data
	for j := i + 1; j < len(d); j++ {
		for j < len(d) && plainByte[d[j]] {
			j++
		}
		if j == len(d) {
			break
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, escaped, nonASCII
		case c < 0x20:
			return -1, false, false
		case c >= 0x80:
			nonASCII = true
		case c == '\\':
			escaped = true
			j++
			if j >= len(d) {
				return -1, false, false
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(d) || !isHex(d[j+1]) || !isHex(d[j+2]) || !isHex(d[j+3]) || !isHex(d[j+4]) {
					return -1, false, false
				}
				j += 4
			default:
				return -1, false, false
			}
		}
	}
	return -1, false, false
}

// plainByte marks the bytes a string holds as they are: not a quote, a
// backslash, a control character or a byte beyond ASCII.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans the number at i, by JSON's grammar, and refuses one beyond
// float64's range as encoding/json does.
func (sc *scanner) number(i int) int {
	d, start := sc.data, i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return -1
	}
	exp := false
	if i < len(d) && d[i] == '.' {
		if i+1 >= len(d) || d[i+1] < '0' || d[i+1] > '9' {
			return -1
		}
		i = digits(d, i+1)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		exp = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return -1
		}
		i = digits(d, i)
	}
	// Without an exponent, only a number of more than 300 digits can
	// overflow a float64.
	if exp || i-start > 300 {
		if _, err := strconv.ParseFloat(unsafe.String(&d[start], i-start), 64); err != nil {
			return -1
		}
	}
	return i
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
