package inspect

import "errors"

// ErrMethodOverride is a request that asks the upstream to take it for
// another method than the one it was sent with.
var ErrMethodOverride = errors.New("method override")

// MethodOverrideHeaders are the headers with which frameworks let a client
// replace the request method (canonical form, for http.Header lookups).
var MethodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// MethodOverrideParam is the query and form parameter with which Rails,
// Laravel, Symfony and Spring let a client replace the request method.
const MethodOverrideParam = "_method"

// IsMethodOverrideName reports whether a decoded parameter name is
// MethodOverrideParam as a lenient decoder reads it: in any case, and with
// '.', ' ', '[' or '-' for the '_' (PHP reads .method as _method).
func IsMethodOverrideName[T string | []byte](name T) bool {
	if len(name) != len(MethodOverrideParam) {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case b >= 'A' && b <= 'Z':
			b += 'a' - 'A'
		case b == '.' || b == ' ' || b == '[' || b == '-':
			b = '_'
		}
		if b != MethodOverrideParam[i] {
			return false
		}
	}
	return true
}

// QueryHasMethodOverride reports whether a raw query string (still encoded)
// has a parameter named MethodOverrideParam, however it is encoded. Fields
// are split on '&' and ';' (some servers still take ';' as a separator).
func QueryHasMethodOverride(raw string) bool {
	for raw != "" {
		i := 0
		for i < len(raw) && raw[i] != '&' && raw[i] != ';' {
			i++
		}
		field := raw[:i]
		if i < len(raw) {
			i++
		}
		raw = raw[i:]
		name := field
		for j := 0; j < len(field); j++ {
			if field[j] == '=' {
				name = field[:j]
				break
			}
		}
		// An encoded name is at most three bytes a character.
		if len(name) < len(MethodOverrideParam) || len(name) > 3*len(MethodOverrideParam) {
			continue
		}
		if IsMethodOverrideName(name) {
			return true
		}
		if dec, n, changed := percentDecodeSmall(name); changed && IsMethodOverrideName(dec[:n]) {
			return true
		}
	}
	return false
}

// percentDecodeSmall decodes %XX escapes and '+' of a short name into a
// fixed buffer, without allocating; malformed escapes stay as they are.
func percentDecodeSmall(s string) (buf [3 * len(MethodOverrideParam)]byte, n int, changed bool) {
	for i := 0; i < len(s) && n < len(buf); i++ {
		b := s[i]
		if b == '%' && i+2 < len(s) {
			h, ok1 := hexVal(s[i+1])
			l, ok2 := hexVal(s[i+2])
			if ok1 && ok2 {
				b, i, changed = h<<4|l, i+2, true
			}
		} else if b == '+' {
			b, changed = ' ', true
		}
		buf[n] = b
		n++
	}
	return buf, n, changed
}
