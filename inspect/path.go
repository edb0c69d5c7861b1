package inspect

import "strings"

// PathProblem is why a request path was refused; the empty string is a path
// that passed.
type PathProblem string

// Path problems, a fixed vocabulary (used as metric labels).
const (
	PathOK            PathProblem = ""
	PathEncodedSlash  PathProblem = "encoded_slash"
	PathDotSegment    PathProblem = "dot_segment"
	PathDoubleSlash   PathProblem = "double_slash"
	PathBackslash     PathProblem = "backslash"
	PathNUL           PathProblem = "nul"
	PathBadEscape     PathProblem = "bad_escape"
	PathControl       PathProblem = "control_character"
	PathDoubleEncoded PathProblem = "double_encoding"
	PathNotAbsolute   PathProblem = "not_absolute"
	PathParameter     PathProblem = "path_parameter"
	PathTrailingDot   PathProblem = "trailing_dot_or_space"
	PathInvalidUTF8   PathProblem = "invalid_utf8"
)

// PathProblems lists every problem CheckPath reports.
var PathProblems = []PathProblem{
	PathEncodedSlash, PathDotSegment, PathDoubleSlash, PathBackslash, PathNUL, PathBadEscape,
	PathControl, PathDoubleEncoded, PathNotAbsolute, PathParameter, PathTrailingDot, PathInvalidUTF8,
}

// Describe returns a sentence for the answer to the client.
func (p PathProblem) Describe() string {
	switch p {
	case PathEncodedSlash:
		return "the path holds an encoded slash (%2F)"
	case PathDotSegment:
		return "the path holds a dot segment (. or ..)"
	case PathDoubleSlash:
		return "the path holds an empty segment (//)"
	case PathBackslash:
		return "the path holds a backslash"
	case PathNUL:
		return "the path holds a NUL byte"
	case PathBadEscape:
		return "the path holds a malformed percent escape"
	case PathControl:
		return "the path holds a control character"
	case PathDoubleEncoded:
		return "the path holds a double-encoded character"
	case PathNotAbsolute:
		return "the path does not start with /"
	case PathParameter:
		return "the path holds a path parameter (;)"
	case PathTrailingDot:
		return "a path segment ends in a dot or a space"
	case PathInvalidUTF8:
		return "the path is not well-formed UTF-8 once decoded"
	}
	return "the path is acceptable"
}

// CheckPath checks the path of a request target as the client sent it (still
// percent-encoded, without the query), so that the path a router sees after
// decoding and cleaning is the path the upstream gets: it refuses encoded
// slashes, dot segments (also encoded), empty segments, backslashes (also
// encoded), NUL and control characters, malformed escapes, and escapes that
// decode to another escape (double encoding). It also refuses what lenient
// upstreams rewrite before routing: path parameters (';', also encoded, which
// Tomcat, Jetty and Spring strip, so /admin;x=1/users reaches /admin/users),
// segments ending in a dot or a space (which Windows servers drop, so
// /admin./ reaches /admin/), and bytes that do not decode to well-formed UTF-8
// (overlong forms such as %C0%AE decode to '.' in lenient decoders). A
// trailing slash is allowed. "*" (OPTIONS *) passes.
func CheckPath(p string) PathProblem {
	if p == "*" {
		return PathOK
	}
	if p == "" || p[0] != '/' {
		return PathNotAbsolute
	}
	rest := p[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if prob := checkSegment(seg, more); prob != PathOK {
			return prob
		}
		if !more {
			return PathOK
		}
		rest = tail
	}
}

// checkSegment checks one segment; inner is false for the last one, which may
// be empty (a trailing slash, or the root). It is one pass over the segment's
// bytes, decoding escapes as it goes, and reads better whole.
func checkSegment(seg string, inner bool) PathProblem {
	if seg == "" {
		if inner {
			return PathDoubleSlash
		}
		return PathOK
	}
	dots, other := 0, false
	var last byte
	var u utf8Stream
	for i := 0; i < len(seg); i++ {
		b := seg[i]
		if b == '%' {
			if i+2 >= len(seg) {
				return PathBadEscape
			}
			h, ok1 := hexVal(seg[i+1])
			l, ok2 := hexVal(seg[i+2])
			if !ok1 || !ok2 {
				return PathBadEscape
			}
			b = h<<4 | l
			i += 2
			switch b {
			case '/':
				return PathEncodedSlash
			case '%':
				// %25 followed by two hex digits decodes to an escape.
				if i+2 < len(seg) {
					if _, ok := hexVal(seg[i+1]); ok {
						if _, ok := hexVal(seg[i+2]); ok {
							return PathDoubleEncoded
						}
					}
				}
			}
		}
		switch {
		case b == 0:
			return PathNUL
		case b == '\\':
			return PathBackslash
		case b < 0x20 || b == 0x7f:
			return PathControl
		case b == ';':
			return PathParameter
		case b == '.':
			dots++
		default:
			other = true
		}
		if (b >= 0x80 || u.need > 0) && !u.step(b) {
			return PathInvalidUTF8
		}
		last = b
	}
	if !u.complete() {
		return PathInvalidUTF8
	}
	if !other && dots <= 2 {
		return PathDotSegment
	}
	if last == '.' || last == ' ' {
		return PathTrailingDot
	}
	return PathOK
}
