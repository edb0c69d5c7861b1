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

// bodyCheck walks a body that scanJSON accepted against a bodySchema. It
// collects at most maxErrors errors; inside anyOf, oneOf and not (quiet > 0)
// it records none and stops at the first failure.
type bodyCheck struct {
	data  []byte
	quiet int
	errs  []fieldError
	path  []pathSeg
	keys  [][]byte // scanJSON's scratch
}

// pathSeg is one step of the pointer to the value being checked: a key (its
// raw bytes, between the quotes) or an array index.
type pathSeg struct {
	key   []byte
	index int
}

var checks = sync.Pool{New: func() any { return &bodyCheck{path: make([]pathSeg, 0, 16), keys: make([][]byte, 0, 32)} }}

// validate checks body against s. It returns the errors of a body that does
// not pass, and undecided for a body only the library can judge.
func (s *bodySchema) validate(body []byte) (errs []fieldError, undecided bool) {
	c := checks.Get().(*bodyCheck)
	defer func() {
		c.data, c.errs, c.path, c.quiet = nil, nil, c.path[:0], 0
		checks.Put(c)
	}()
	data := body
	if len(trimSpace(body)) == 0 {
		data = []byte("null") // the library's decoder reads a blank body as null
	}
	verdict, keys := scanJSON(data, c.keys)
	c.keys = keys[:0]
	switch verdict {
	case scanInvalid:
		return []fieldError{{Pointer: "/body", Reason: "is not valid JSON"}}, false
	case scanUndecided:
		return nil, true
	}
	c.data = data
	c.value(s, skipSpace(data, 0))
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
		if seg.key == nil {
			b.WriteString(strconv.Itoa(seg.index))
			continue
		}
		b.WriteString(pointerEscaper.Replace(decodeString(seg.key)))
	}
	p := b.String()
	if len(p) > maxPointer {
		p = strings.ToValidUTF8(p[:maxPointer], "")
	}
	return p
}

// kinds of JSON values, in the bits of typeSet.
func kindAt(c byte) typeSet {
	switch c {
	case '{':
		return typeObject
	case '[':
		return typeArray
	case '"':
		return typeString
	case 't', 'f':
		return typeBoolean
	case 'n':
		return typeNull
	}
	return typeNumber
}

// value checks the value at i against s and returns the index after it and
// whether it passes. When quiet and failing, the index may be short.
func (c *bodyCheck) value(s *bodySchema, i int) (int, bool) {
	if s.any {
		return skipValue(c.data, i), true
	}
	if s.never {
		c.fail("is not allowed here")
		return skipValue(c.data, i), false
	}
	end, ok := c.own(s, i)
	if !ok && c.quiet > 0 {
		return end, false
	}
	for _, sub := range s.allOf {
		if _, subOK := c.value(sub, i); !subOK {
			ok = false
			if c.quiet > 0 {
				return end, false
			}
		}
	}
	if s.anyOf != nil || s.oneOf != nil || s.not != nil {
		ok = c.alternatives(s, i) && ok
	}
	return end, ok
}

// alternatives checks anyOf, oneOf and not, quietly: their failures are
// reported as one error at the value.
func (c *bodyCheck) alternatives(s *bodySchema, i int) bool {
	c.quiet++
	matches := func(list []*bodySchema, stopAt int) int {
		n := 0
		for _, sub := range list {
			if _, ok := c.value(sub, i); ok {
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
	if s.not != nil && ok {
		if _, match := c.value(s.not, i); match {
			ok, reason = false, "matches a schema it must not"
		}
	}
	c.quiet--
	if !ok {
		c.fail(reason)
	}
	return ok
}

// own checks the keywords of s other than the combinators.
func (c *bodyCheck) own(s *bodySchema, i int) (int, bool) {
	kind := kindAt(c.data[i])
	var num float64
	var end int
	if kind == typeNumber {
		end = numberEnd(c.data, i)
		num, _ = strconv.ParseFloat(unsafe.String(&c.data[i], end-i), 64)
		if num == math.Trunc(num) {
			kind |= typeInteger
		}
	}
	if s.types != 0 && s.types&kind == 0 {
		c.fail(typeReason(kind, s.types))
		return skipValue(c.data, i), false
	}
	switch kind &^ typeInteger {
	case typeObject:
		return c.object(s, i)
	case typeArray:
		return c.array(s, i)
	case typeString:
		return c.str(s, i)
	case typeNumber:
		return end, c.number(s, num)
	case typeBoolean:
		end = i + 4
		if c.data[i] == 'f' {
			end++
		}
		return end, c.enum(s, c.data[i] == 't')
	}
	return i + 4, c.enum(s, nil)
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

func (c *bodyCheck) str(s *bodySchema, i int) (int, bool) {
	end, escaped := stringEnd(c.data, i)
	raw := c.data[i+1 : end-1]
	var v string
	if escaped || !utf8.Valid(raw) {
		v = decodeString(raw)
	} else if len(raw) > 0 {
		v = unsafe.String(&raw[0], len(raw))
	}
	return end, c.strValue(s, v)
}

// strValue checks a decoded string against enum, minLength, maxLength and
// pattern.
func (c *bodyCheck) strValue(s *bodySchema, v string) bool {
	ok := c.enum(s, v)
	if s.minLength >= 0 || s.maxLength >= 0 {
		n := utf8.RuneCountInString(v)
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

func (c *bodyCheck) array(s *bodySchema, i int) (int, bool) {
	ok, n := c.notEnum(s), 0
	i = skipSpace(c.data, i+1)
	if c.data[i] == ']' {
		return i + 1, c.counts(s, 0, true)
	}
	for {
		start := i
		if s.items != nil {
			c.path = append(c.path, pathSeg{index: n})
			var itemOK bool
			i, itemOK = c.value(s.items, i)
			c.path = c.path[:len(c.path)-1]
			if !itemOK {
				ok = false
				if c.quiet > 0 {
					return i, false
				}
				i = skipValue(c.data, start)
			}
		} else {
			i = skipValue(c.data, i)
		}
		n++
		i = skipSpace(c.data, i)
		if c.data[i] == ']' {
			return i + 1, c.counts(s, n, true) && ok
		}
		i = skipSpace(c.data, i+1)
	}
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
