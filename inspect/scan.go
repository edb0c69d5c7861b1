package inspect

import (
	"bytes"
	"html"
	"unsafe"

	"github.com/corazawaf/libinjection-go"
)

// Attack is what a scan found.
type Attack uint8

const (
	// None is a value that passed.
	None Attack = iota
	// SQLi is a value libinjection takes for SQL injection.
	SQLi
	// XSS is a value libinjection takes for cross-site scripting.
	XSS
)

func (a Attack) String() string {
	switch a {
	case SQLi:
		return "sqli"
	case XSS:
		return "xss"
	}
	return "none"
}

// Detector scans values for injection with libinjection. Besides the value as
// given, it scans the forms an upstream may decode it into: percent-decoded
// (twice, for double encoding) and HTML-entity-decoded. The zero value detects
// nothing; it is safe for concurrent use.
type Detector struct {
	SQLi, XSS bool
}

// maxDecodes bounds the percent-decoding rounds.
const maxDecodes = 2

// Enabled reports whether the detector detects anything.
func (d Detector) Enabled() bool { return d.SQLi || d.XSS }

// Detect scans one value.
func (d Detector) Detect(v []byte) Attack {
	if !d.Enabled() || len(v) == 0 {
		return None
	}
	if a := d.detect1(v); a != None {
		return a
	}
	cur := v
	for range maxDecodes {
		if bytes.IndexByte(cur, '%') < 0 {
			break
		}
		dec, changed := percentDecode(cur)
		if !changed {
			break
		}
		if a := d.detect1(dec); a != None {
			return a
		}
		cur = dec
	}
	if d.XSS && bytes.IndexByte(cur, '&') >= 0 {
		s := string(cur)
		if u := html.UnescapeString(s); u != s && mayXSS([]byte(u)) && libinjection.IsXSS(u) {
			return XSS
		}
	}
	return None
}

// DetectString scans one value.
func (d Detector) DetectString(v string) Attack {
	if len(v) == 0 {
		return None
	}
	return d.Detect(unsafe.Slice(unsafe.StringData(v), len(v)))
}

func (d Detector) detect1(v []byte) Attack {
	if !mayInject(v) {
		return None
	}
	// libinjection reads the string and keeps nothing of it once it returns,
	// so v need not be copied.
	s := unsafe.String(unsafe.SliceData(v), len(v))
	if d.SQLi {
		if ok, _ := libinjection.IsSQLi(s); ok {
			return SQLi
		}
	}
	if d.XSS && mayXSS(v) && libinjection.IsXSS(s) {
		return XSS
	}
	return None
}

// mayXSS reports whether libinjection's XSS check could flag v: its HTML
// tokenizer flags tags (which need '<') and dangerous attributes (whose
// values need '='). FuzzMayXSS checks this claim against libinjection.
func mayXSS(v []byte) bool {
	return bytes.IndexByte(v, '<') >= 0 || bytes.IndexByte(v, '=') >= 0
}

// mayInject is a cheap filter in front of libinjection: a single token made
// only of letters, digits and '.', '_', ':', ',' or a lone '-' (identifiers,
// numbers, dates, times, UUIDs) is never flagged by libinjection (FuzzMayInject
// checks the claim). Anything else, a space included, goes to libinjection,
// which decides.
func mayInject(v []byte) bool {
	for i, b := range v {
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' {
			continue
		}
		switch b {
		case '.', '_', ':', ',':
			continue
		case '-':
			if i+1 < len(v) && v[i+1] == '-' {
				return true
			}
			continue
		}
		return true
	}
	return false
}

// percentDecode decodes %XX escapes (leaving bad ones as they are) and '+'
// as a space.
func percentDecode(v []byte) ([]byte, bool) {
	out := make([]byte, 0, len(v))
	changed := false
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b == '%' && i+2 < len(v) {
			h, ok1 := hexVal(v[i+1])
			l, ok2 := hexVal(v[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				changed = true
				continue
			}
		}
		if b == '+' {
			b, changed = ' ', true
		}
		out = append(out, b)
	}
	return out, changed
}
