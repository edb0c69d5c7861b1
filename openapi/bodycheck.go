package openapi

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// bodyCheck walks the tape of a body that scanJSON accepted against a
// bodySchema. It collects at most maxErrors errors; inside anyOf, oneOf and
// not (quiet > 0) it records none and stops at the first failure.
type bodyCheck struct {
	data  []byte
	tape  []token
	quiet int
	errs  []fieldError
	path  []pathSeg
}

// pathSeg is one step of the pointer to the value being checked: the tape
// index of a key, or (key < 0) an array index.
type pathSeg struct {
	key, index int32
}

var checks = sync.Pool{New: func() any { return &bodyCheck{path: make([]pathSeg, 0, 16), tape: make([]token, 0, 128)} }}

// validate checks body against s. It returns the errors of a body that does
// not pass, and undecided for a body only the library can judge.
func (s *bodySchema) validate(body []byte) (errs []fieldError, undecided bool) {
	c := checks.Get().(*bodyCheck)
	defer func() {
		c.data, c.errs, c.path, c.quiet = nil, nil, c.path[:0], 0
		if cap(c.tape) > maxPooledTape {
			c.tape = nil
		}
		checks.Put(c)
	}()
	data := body
	if len(trimSpace(body)) == 0 {
		data = []byte("null") // the library's decoder reads a blank body as null
	}
	verdict, tape := scanJSON(data, c.tape)
	c.tape = tape
	switch verdict {
	case scanInvalid:
		return []fieldError{{Pointer: "/body", Reason: "is not valid JSON"}}, false
	case scanUndecided:
		return nil, true
	}
	c.data = data
	c.value(s, 0)
	return c.errs, false
}

func trimSpace(b []byte) []byte {
	i := skipSpace(b, 0)
	return b[i:]
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// fail records that the value at the current path does not pass.
func (c *bodyCheck) fail(reason string) {
	if c.quiet > 0 || len(c.errs) >= maxErrors {
		return
	}
	c.errs = append(c.errs, fieldError{Pointer: c.pointer(), Reason: reason})
}

// pointer renders the current path as a JSON pointer under /body.
func (c *bodyCheck) pointer() string {
	var b strings.Builder
	b.WriteString("/body")
	for _, seg := range c.path {
		b.WriteByte('/')
		if seg.key < 0 {
			b.WriteString(strconv.Itoa(int(seg.index)))
			continue
		}
		key := c.tape[seg.key]
		b.WriteString(pointerEscaper.Replace(decodeString(c.data[key.start+1 : key.end-1])))
	}
	p := b.String()
	if len(p) > maxPointer {
		p = strings.ToValidUTF8(p[:maxPointer], "")
	}
	return p
}

// value checks the value at tape index t against s and returns whether it
// passes.
func (c *bodyCheck) value(s *bodySchema, t int) bool {
	if s.any {
		return true
	}
	if s.never {
		c.fail("is not allowed here")
		return false
	}
	ok := c.own(s, t)
	if !ok && c.quiet > 0 {
		return false
	}
	for _, sub := range s.allOf {
		if !c.value(sub, t) {
			ok = false
			if c.quiet > 0 {
				return false
			}
		}
	}
	if s.anyOf != nil || s.oneOf != nil || s.not != nil {
		ok = c.alternatives(s, t) && ok
	}
	return ok
}

// alternatives checks anyOf, oneOf and not, quietly: their failures are
// reported as one error at the value.
func (c *bodyCheck) alternatives(s *bodySchema, t int) bool {
	c.quiet++
	matches := func(list []*bodySchema, stopAt int) int {
		n := 0
		for _, sub := range list {
			if c.value(sub, t) {
				if n++; n == stopAt {
					break
				}
			}
		}
		return n
	}
	ok, reason := true, ""
	if s.anyOf != nil && matches(s.anyOf, 1) == 0 {
		ok, reason = false, "matches none of the anyOf alternatives"
	}
	if s.oneOf != nil && ok {
		switch matches(s.oneOf, 2) {
		case 0:
			ok, reason = false, "matches none of the oneOf alternatives"
		case 2:
			ok, reason = false, "matches more than one of the oneOf alternatives"
		}
	}
	if s.not != nil && ok && c.value(s.not, t) {
		ok, reason = false, "matches a schema it must not"
	}
	c.quiet--
	if !ok {
		c.fail(reason)
	}
	return ok
}

// own checks the keywords of s other than the combinators.
func (c *bodyCheck) own(s *bodySchema, t int) bool {
	tok := &c.tape[t]
	kind := tok.kind
	var num float64
	if kind == typeNumber {
		num = parseNumber(c.data[tok.start:tok.end])
		if num == math.Trunc(num) {
			kind |= typeInteger
		}
	}
	if s.types != 0 && s.types&kind == 0 {
		c.fail(typeReason(kind, s.types))
		return false
	}
	switch kind &^ typeInteger {
	case typeObject:
		return c.object(s, t)
	case typeArray:
		return c.array(s, t)
	case typeString:
		return c.str(s, tok)
	case typeNumber:
		return c.number(s, num)
	case typeBoolean:
		return c.enum(s, c.data[tok.start] == 't')
	}
	return c.enum(s, nil)
}

// parseNumber reads a number scanJSON accepted: an integer of up to 15
// digits (a float64 holds it exactly) by hand, any other with strconv.
func parseNumber(raw []byte) float64 {
	digits, neg := raw, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if n, ok := smallInt(digits); ok {
		if neg {
			return -float64(n)
		}
		return float64(n)
	}
	f, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	return f
}

func smallInt(digits []byte) (int64, bool) {
	if len(digits) == 0 || len(digits) > 15 {
		return 0, false
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// notEnum fails an object or array where the schema lists enum values: they
// are all scalars.
func (c *bodyCheck) notEnum(s *bodySchema) bool {
	if s.enum == nil {
		return true
	}
	c.fail("is not one of the allowed values")
	return false
}

// enum checks a scalar against enum and const.
func (c *bodyCheck) enum(s *bodySchema, v scalar) bool {
	if s.enum == nil {
		return true
	}
	for _, e := range s.enum {
		if e == v {
			return true
		}
	}
	c.fail("is not one of the allowed values")
	return false
}

func (c *bodyCheck) number(s *bodySchema, f float64) bool {
	ok := c.enum(s, f)
	fail := func(reason string) {
		c.fail(reason)
		ok = false
	}
	if s.minimum.set && f < s.minimum.v {
		fail("is less than " + formatNum(s.minimum.v))
	}
	if s.maximum.set && f > s.maximum.v {
		fail("is greater than " + formatNum(s.maximum.v))
	}
	if s.exclusiveMin.set && f <= s.exclusiveMin.v {
		fail("is not greater than " + formatNum(s.exclusiveMin.v))
	}
	if s.exclusiveMax.set && f >= s.exclusiveMax.v {
		fail("is not less than " + formatNum(s.exclusiveMax.v))
	}
	if s.multipleOf != nil {
		// As the library does: the number's shortest decimal, exactly.
		r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
		if r == nil || !r.Quo(r, s.multipleOf).IsInt() {
			fail("is not a multiple of " + s.multipleOf.RatString())
		}
	}
	return ok
}

func formatNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (c *bodyCheck) str(s *bodySchema, tok *token) bool {
	raw := c.data[tok.start+1 : tok.end-1]
	var v string
	if tok.flags&strEscaped != 0 || tok.flags&strNonASCII != 0 && !utf8.Valid(raw) {
		v = decodeString(raw)
	} else if len(raw) > 0 {
		v = unsafe.String(&raw[0], len(raw))
	}
	return c.strValue(s, v, tok.flags == 0)
}

// strValue checks a decoded string against enum, minLength, maxLength and
// pattern; ascii says v has no byte beyond ASCII.
func (c *bodyCheck) strValue(s *bodySchema, v string, ascii bool) bool {
	ok := c.enum(s, v)
	if s.minLength >= 0 || s.maxLength >= 0 {
		n := len(v)
		if !ascii {
			n = utf8.RuneCountInString(v)
		}
		if s.minLength >= 0 && n < s.minLength {
			c.fail("is shorter than " + strconv.Itoa(s.minLength) + " characters")
			ok = false
		}
		if s.maxLength >= 0 && n > s.maxLength {
			c.fail("is longer than " + strconv.Itoa(s.maxLength) + " characters")
			ok = false
		}
	}
	if s.pattern != nil && !s.matches(v) {
		c.fail("does not match the pattern")
		ok = false
	}
	return ok
}

// decodeString decodes a JSON string's content as encoding/json does (it
// replaces invalid UTF-8 with U+FFFD).
func decodeString(raw []byte) string {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

func (c *bodyCheck) array(s *bodySchema, t int) bool {
	ok, n := c.notEnum(s), 0
	end := int(c.tape[t].next)
	for item := t + 1; item < end; item = int(c.tape[item].next) {
		if s.items != nil {
			c.path = append(c.path, pathSeg{key: -1, index: int32(n)})
			itemOK := c.value(s.items, item)
			c.path = c.path[:len(c.path)-1]
			if !itemOK {
				ok = false
				if c.quiet > 0 {
					return false
				}
			}
		}
		n++
	}
	return c.counts(s, n, true) && ok
}

// counts checks minItems and maxItems (items) or minProperties and
// maxProperties.
func (c *bodyCheck) counts(s *bodySchema, n int, items bool) bool {
	lo, hi, what := s.minProperties, s.maxProperties, " properties"
	if items {
		lo, hi, what = s.minItems, s.maxItems, " items"
	}
	switch {
	case n < lo:
		c.fail("has fewer than " + strconv.Itoa(lo) + what)
	case hi >= 0 && n > hi:
		c.fail("has more than " + strconv.Itoa(hi) + what)
	default:
		return true
	}
	return false
}
