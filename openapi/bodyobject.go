package openapi

import (
	"math/bits"
	"strings"
	"unsafe"
)

// object checks an object's properties, required, additionalProperties and
// counts. scanJSON has made sure that no key repeats and that every key's
// bytes are its name.
func (c *bodyCheck) object(s *bodySchema, t int) bool {
	ok := c.notEnum(s)
	var seen, othersSeen uint64
	n := 0
	end := int(c.tape[t].next)
	for k := t + 1; k < end; k = int(c.tape[k+1].next) {
		key := &c.tape[k]
		raw := c.data[key.start+1 : key.end-1]
		name := unsafe.String(unsafe.SliceData(raw), len(raw))
		n++
		sub := s.additional
		if idx, known := s.property(name); known {
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
		case sub.never && sub == s.additional:
			c.fail("has a property the schema does not allow")
			ok = false
		default:
			c.path = append(c.path, pathSeg{key: int32(k)})
			if !c.value(sub, k+1) {
				ok = false
			}
			c.path = c.path[:len(c.path)-1]
		}
		if !ok && c.quiet > 0 {
			return false
		}
	}
	ok = c.required(s, seen, othersSeen) && ok
	return c.counts(s, n, false) && ok
}

// property returns the index in props of the property name: by comparing
// names in an object of a few properties, by the map in a larger one.
func (s *bodySchema) property(name string) (int, bool) {
	if len(s.propNames) > smallObject {
		idx, ok := s.properties[name]
		return idx, ok
	}
	for i, p := range s.propNames {
		if p == name {
			return i, true
		}
	}
	return 0, false
}

// smallObject is the most properties an object's schema may have for its
// names to be compared one by one rather than looked up by hash.
const smallObject = 8

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
