package openapi

import (
	"bytes"
	"encoding/binary"
	"math"
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

// A token is one value of a scanned body, or one key of an object, on the
// tape scanJSON writes in document order: an object is its token, then each
// key's token followed by its value's tokens; an array is its token, then
// its items'. bodyCheck walks the tape, never the bytes again.
type token struct {
	start, end int32   // the value's bytes, quotes and brackets included
	next       int32   // the tape index after the value and all it holds
	kind       typeSet // one of the JSON types; a number is typeNumber
	flags      uint8   // of a string: strEscaped, strNonASCII
}

const (
	strEscaped  = 1 << iota // holds a backslash escape
	strNonASCII             // holds a byte beyond ASCII
)

// maxPooledTape is the largest tape kept for the next body: a larger one
// (a body of more than about 16k values) is left to the garbage collector.
const maxPooledTape = 1 << 14

// scanner checks a body's syntax in one pass, as the library's decoder
// (encoding/json into an any) would accept it: one value, numbers a float64
// holds, at most maxNesting levels, and writes its tape. It also finds
// objects that repeat a key, which encoding/json resolves by keeping the
// last one: bodySchema checks every occurrence, so such bodies go to the
// library. It allocates only to grow the tape and for an object of more
// than dupScanLimit keys.
type scanner struct {
	data      []byte
	tape      []token
	depth     int
	undecided bool
}

// dupScanLimit is how many keys an object may have before repeated keys are
// found with a map rather than by comparing every pair.
const dupScanLimit = 32

// scanJSON scans data into tape (reused from its start) and returns the
// verdict and the tape. A body beyond int32's offsets is left undecided.
func scanJSON(data []byte, tape []token) (scanVerdict, []token) {
	if len(data) > math.MaxInt32 {
		return scanUndecided, tape[:0]
	}
	sc := scanner{data: data, tape: tape[:0]}
	i := sc.ws(0)
	i = sc.value(i)
	if i < 0 || sc.ws(i) != len(data) {
		return scanInvalid, sc.tape
	}
	if sc.undecided {
		return scanUndecided, sc.tape
	}
	return scanOK, sc.tape
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

// push appends the token of the value starting at i and returns its index.
func (sc *scanner) push(i int, kind typeSet) int {
	sc.tape = append(sc.tape, token{start: int32(i), kind: kind})
	return len(sc.tape) - 1
}

// close ends token t at end: its value's bytes and everything it holds.
func (sc *scanner) close(t, end int) int {
	if end >= 0 {
		sc.tape[t].end, sc.tape[t].next = int32(end), int32(len(sc.tape))
	}
	return end
}

// value scans the value at i and returns the index after it, or -1.
func (sc *scanner) value(i int) int {
	if i >= len(sc.data) {
		return -1
	}
	switch c := sc.data[i]; {
	case c == '{':
		return sc.close(sc.push(i, typeObject), sc.object(i))
	case c == '[':
		return sc.close(sc.push(i, typeArray), sc.array(i))
	case c == '"':
		return sc.str(i)
	case c == 't':
		return sc.close(sc.push(i, typeBoolean), sc.literal(i, "true"))
	case c == 'f':
		return sc.close(sc.push(i, typeBoolean), sc.literal(i, "false"))
	case c == 'n':
		return sc.close(sc.push(i, typeNull), sc.literal(i, "null"))
	default:
		return sc.close(sc.push(i, typeNumber), sc.number(i))
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
	first := len(sc.tape) // the object's first key
	var seen map[string]struct{}
	i = sc.ws(i + 1)
	if i < len(sc.data) && sc.data[i] == '}' {
		sc.depth--
		return i + 1
	}
	for n := 0; ; n++ {
		if i >= len(sc.data) || sc.data[i] != '"' {
			return -1
		}
		k := len(sc.tape)
		if i = sc.str(i); i < 0 {
			return -1
		}
		seen = sc.key(first, k, n, seen)
		i = sc.ws(i)
		if i >= len(sc.data) || sc.data[i] != ':' {
			return -1
		}
		if i = sc.value(sc.ws(i + 1)); i < 0 {
			return -1
		}
		var closed bool
		if i, closed = sc.after(i, '}'); closed || i < 0 {
			return i
		}
	}
}

// keyBytes returns the bytes of the key token k, between its quotes.
func (sc *scanner) keyBytes(k int) []byte {
	t := &sc.tape[k]
	return sc.data[t.start+1 : t.end-1]
}

// key checks the object's key k, its n-th, against the keys before it (the
// first at tape index first), and marks the body undecided when the object
// already has it, or when the key's decoded form may differ from its bytes.
// Beyond dupScanLimit keys, an object's keys move into seen.
func (sc *scanner) key(first, k, n int, seen map[string]struct{}) map[string]struct{} {
	if sc.undecided {
		return seen
	}
	raw, flags := sc.keyBytes(k), sc.tape[k].flags
	if flags&strEscaped != 0 || flags&strNonASCII != 0 && !utf8.Valid(raw) {
		sc.undecided = true
		return seen
	}
	if seen == nil && n >= dupScanLimit {
		seen = make(map[string]struct{}, 2*dupScanLimit)
		for j := first; j < k; j = int(sc.tape[j+1].next) {
			seen[string(sc.keyBytes(j))] = struct{}{}
		}
	}
	if seen != nil {
		if _, dup := seen[string(raw)]; dup {
			sc.undecided = true
		}
		seen[string(raw)] = struct{}{}
		return seen
	}
	for j := first; j < k; j = int(sc.tape[j+1].next) {
		if bytes.Equal(sc.keyBytes(j), raw) {
			sc.undecided = true
			return seen
		}
	}
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

// str scans the string at i into a token and returns the index after its
// closing quote, or -1.
func (sc *scanner) str(i int) int {
	d := sc.data
	var flags uint8
	for j := i + 1; j < len(d); j++ {
		j = plainRun(d, j)
		if j == len(d) {
			break
		}
		switch c := d[j]; {
		case c == '"':
			sc.tape = append(sc.tape, token{start: int32(i), end: int32(j + 1), next: int32(len(sc.tape) + 1),
				kind: typeString, flags: flags})
			return j + 1
		case c < 0x20:
			return -1
		case c >= 0x80:
			flags |= strNonASCII
		case c == '\\':
			flags |= strEscaped
			j++
			if j >= len(d) {
				return -1
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(d) || !isHex(d[j+1]) || !isHex(d[j+2]) || !isHex(d[j+3]) || !isHex(d[j+4]) {
					return -1
				}
				j += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// plainRun returns the index of the first byte at or after j that is not
// plain (see plainByte), or len(d). It tests eight bytes at a time: a word
// with a byte beyond ASCII, below 0x20, a quote or a backslash stops the
// fast loop (its tests may also stop it early, never late), and the byte
// loop finds which.
func plainRun(d []byte, j int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; j+8 <= len(d); j += 8 {
		w := binary.LittleEndian.Uint64(d[j:])
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		control := (w - ones*0x20) &^ w
		if (w|control|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0 {
			break
		}
	}
	for j < len(d) && plainByte[d[j]] {
		j++
	}
	return j
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
