package cache

import (
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
)

// Partition says whose a stored response is. Every key holds one, so a
// response stored for one caller is never found by another, unless it is in
// the shared partition.
type Partition struct {
	// Kind is Consumer, Anonymous or Shared.
	Kind byte
	// Method, Consumer and Scopes identify the caller (Kind Consumer only):
	// the authentication method, the consumer and its scopes, so the same
	// consumer name from two methods, or with two keys of different scopes,
	// gets two partitions.
	Method, Consumer, Scopes string
}

// The partition kinds.
const (
	Consumer  byte = 'c'
	Anonymous byte = 'a'
	Shared    byte = 's'
)

// Same reports whether p and q are the same partition.
func (p Partition) Same(q Partition) bool {
	return p.Kind == q.Kind && p.Method == q.Method && p.Consumer == q.Consumer && p.Scopes == q.Scopes
}

// AppendKey appends the key of a GET or HEAD (they share entries) to dst:
// host (lower-cased), escaped path, query normalised by NormalizeQuery, and the
// partition. Every field is length-prefixed, so no choice of field values can
// make two different requests share a key.
func AppendKey(dst []byte, host, path, rawQuery string, p Partition) []byte {
	dst = append(dst, 'G')
	dst = binary.AppendUvarint(dst, uint64(len(host)))
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = appendField(dst, path)
	dst = appendQuery(dst, rawQuery)
	dst = append(dst, p.Kind)
	if p.Kind == Consumer {
		dst = appendField(dst, p.Method)
		dst = appendField(dst, p.Consumer)
		dst = appendField(dst, p.Scopes)
	}
	return dst
}

func appendField(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// maxSortedParams is how many query parameters are sorted without allocating.
const maxSortedParams = 16

// appendQuery appends the normalised query as a length-prefixed field.
func appendQuery(dst []byte, raw string) []byte {
	if strings.IndexByte(raw, '&') < 0 {
		return appendField(dst, raw)
	}
	var arr [maxSortedParams]string
	params := arr[:0]
	var heap []string
	rest := raw
	for rest != "" {
		var p string
		p, rest, _ = strings.Cut(rest, "&")
		if p == "" {
			continue
		}
		if len(params) == maxSortedParams && heap == nil {
			heap = append(make([]string, 0, 2*maxSortedParams), params...)
		}
		if heap != nil {
			heap = append(heap, p)
		} else {
			params = append(params, p)
		}
	}
	if heap != nil {
		slices.SortStableFunc(heap, compareParamName)
		params = heap
	} else {
		// Insertion sort: stable, and keeps the array on the stack.
		for i := 1; i < len(params); i++ {
			for j := i; j > 0 && compareParamName(params[j-1], params[j]) > 0; j-- {
				params[j-1], params[j] = params[j], params[j-1]
			}
		}
	}
	n := 0
	for i, p := range params {
		if i > 0 {
			n++
		}
		n += len(p)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p...)
	}
	return dst
}

// compareParamName orders query parameters by name only, so the order of
// repeated parameters (a=1&a=2), which may matter to the upstream, is kept.
func compareParamName(a, b string) int {
	an, _, _ := strings.Cut(a, "=")
	bn, _, _ := strings.Cut(b, "=")
	return strings.Compare(an, bn)
}

// NormalizeQuery returns the query as the key holds it: empty parameters
// dropped, parameters sorted by name (stably). Values are not decoded.
func NormalizeQuery(raw string) string {
	b := appendQuery(nil, raw)
	_, n := binary.Uvarint(b)
	return string(b[n:])
}

// VaryNames returns the canonical, sorted, distinct header names a response's
// Vary lists, and whether it lists "*".
func VaryNames(h http.Header) (names []string, star bool) {
	for _, v := range h["Vary"] {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if f == "*" {
				return nil, true
			}
			names = append(names, http.CanonicalHeaderKey(f))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), false
}

// AppendVary appends to a key the request's values of the Vary headers, so
// each variant gets its own entry.
func AppendVary(dst []byte, names []string, req http.Header) []byte {
	dst = append(dst, 'V')
	for _, name := range names {
		vals := req[name]
		dst = appendField(dst, name)
		dst = binary.AppendUvarint(dst, uint64(len(vals)))
		for _, v := range vals {
			dst = appendField(dst, v)
		}
	}
	return dst
}
