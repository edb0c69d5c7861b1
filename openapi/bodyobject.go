package openapi

import (
	"bytes"
	"math/bits"
	"strings"
	"unsafe"
)

// object checks an object's properties, required, additionalProperties and
// counts. scanJSON has made sure that no key repeats and that every key's
// bytes are its name.
func (c *bodyCheck) object(s *bodySchema, i int) (int, bool) {
	ok := c.notEnum(s)
	var seen, othersSeen uint64
	n := 0
	i = skipSpace(c.data, i+1)
	for c.data[i] != '}' {
		kend, _ := stringEnd(c.data, i)
		raw := c.data[i+1 : kend-1]
		name := unsafe.String(unsafe.SliceData(raw), len(raw))
		i = skipSpace(c.data, skipSpace(c.data, kend)+1)
		n++
		sub := s.additional
		if idx, known := s.properties[name]; known {
			sub, seen = s.props[idx], seen|1<<idx
		} else {
			for j, r := range s.requiredOthers {
				if r == name {
					othersSeen |= 1 << j
				}
			}
		}
		switch {
		case sub == nil:
			i = skipValue(c.data, i)
		case sub.never && sub == s.additional:
			c.fail("has a property the schema does not allow")
			ok = false
			i = skipValue(c.data, i)
		default:
			start := i
			c.path = append(c.path, pathSeg{key: raw})
			var subOK bool
			i, subOK = c.value(sub, i)
			c.path = c.path[:len(c.path)-1]
			if !subOK {
				ok = false
				i = skipValue(c.data, start)
			}
		}
		if !ok && c.quiet > 0 {
			return i, false
		}
		i = skipSpace(c.data, i)
		if c.data[i] == ',' {
			i = skipSpace(c.data, i+1)
		}
	}
	ok = c.required(s, seen, othersSeen) && ok
	return i + 1, c.counts(s, n, false) && ok
}

// required fails an object for each required property it lacks.
func (c *bodyCheck) required(s *bodySchema, seen, othersSeen uint64) bool {
	missing := s.requiredMask &^ seen
	others := (uint64(1)<<len(s.requiredOthers) - 1) &^ othersSeen
	if missing == 0 && others == 0 {
		return true
	}
	for missing != 0 {
		idx := bits.TrailingZeros64(missing)
		missing &^= 1 << idx
		c.fail(missingReason(s.propNames[idx]))
	}
	for others != 0 {
		idx := bits.TrailingZeros64(others)
		others &^= 1 << idx
		c.fail(missingReason(s.requiredOthers[idx]))
	}
	return false
}

// missingReason names a property the document requires: a name of the
// document, never of the request.
func missingReason(name string) string {
	if len(name) > 64 {
		name = strings.ToValidUTF8(name[:64], "")
	}
	return "missing property '" + name + "'"
}

// typeReason words a type mismatch with the type names of JSON Schema.
func typeReason(got, want typeSet) string {
	var b strings.Builder
	b.WriteString("got ")
	b.WriteString(typeList(got &^ typeInteger))
	b.WriteString(", want ")
	b.WriteString(typeList(want))
	return b.String()
}

func typeList(t typeSet) string {
	var names []string
	for _, n := range []string{"null", "boolean", "object", "array", "number", "integer", "string"} {
		if t&typeNames[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " or ")
}

// skipValue returns the index after the (valid) value at i.
func skipValue(d []byte, i int) int {
	switch d[i] {
	case '"':
		end, _ := stringEnd(d, i)
		return end
	case 't', 'n':
		return i + 4
	case 'f':
		return i + 5
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				end, _ := stringEnd(d, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(d)
	}
	return numberEnd(d, i)
}

// stringEnd returns the index after the (valid) string at i, and whether it
// holds an escape.
func stringEnd(d []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(d); {
		q := bytes.IndexByte(d[j:], '"')
		if q < 0 {
			return len(d), escaped
		}
		q += j
		// The quote ends the string unless an odd run of backslashes
		// precedes it.
		k := q
		for k > j && d[k-1] == '\\' {
			k--
		}
		if k < q {
			escaped = true
		}
		if (q-k)%2 == 0 {
			if !escaped && bytes.IndexByte(d[j:q], '\\') >= 0 {
				escaped = true
			}
			return q + 1, escaped
		}
		j = q + 1
	}
	return len(d), escaped
}

func numberEnd(d []byte, i int) int {
	for i < len(d) {
		switch c := d[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			i++
		default:
			return i
		}
	}
	return i
}

// typeSet is a set of JSON Schema types.
type typeSet uint8

const (
	typeNull typeSet = 1 << iota
	typeBoolean
	typeObject
	typeArray
	typeNumber
	typeInteger
	typeString
)

var typeNames = map[string]typeSet{
	"null": typeNull, "boolean": typeBoolean, "object": typeObject, "array": typeArray,
	"number": typeNumber, "integer": typeInteger, "string": typeString,
}

func compileTypes(v any) (typeSet, error) {
	names, ok := v.([]any)
	if !ok {
		names = []any{v}
	}
	var t typeSet
	for _, n := range names {
		name, _ := n.(string)
		bit, ok := typeNames[name]
		if !ok {
			return 0, errUnsupported
		}
		t |= bit
	}
	if t == 0 {
		return 0, errUnsupported
	}
	return t, nil
}
