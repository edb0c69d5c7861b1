package gateway

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Credential carriers are the request headers and query parameters some
// loaded authentication method reads a credential from. A response cache that
// runs where no identity is known yet asks CarriesCredential: such a request
// may get a personal answer, so it is neither answered from nor stored in the
// partition anonymous callers share.
//
// Names are compared loosely, as the most lenient upstream reads them: ASCII
// case is ignored and '-', '_', '.', ' ' and '[' are one character (CGI maps
// header dashes to underscores, PHP query dots and spaces), and query names
// are percent-decoded. A name matched too eagerly costs a cache bypass; one
// missed could leak an answer.

// builtinCarriers are carriers whatever the configuration: Authorization
// (Bearer tokens and keys), the api_key method's default header, and the
// query name keys are most often sent in.
var builtinCarriers = []carrier{{name: "Authorization"}, {name: "X-API-Key"}, {name: "api_key", query: true}}

type carrier struct {
	name  string
	query bool
}

// carrierSet is an immutable snapshot of the carriers, folded.
type carrierSet struct{ headers, query []string }

var carriers struct {
	mu   sync.Mutex
	refs map[carrier]int
	set  atomic.Pointer[carrierSet]
}

func init() { publishCarriers() }

// RegisterCarriers records that a loaded method reads credentials from the
// header and the query parameter named (either may be empty). The method calls
// the returned function when it is cleaned up; a name stays a carrier while
// any loaded method reads it, so a config reload keeps it.
func RegisterCarriers(header, query string) (release func()) {
	var added []carrier
	if header != "" {
		added = append(added, carrier{name: foldName(header)})
	}
	if query != "" {
		added = append(added, carrier{name: foldName(query), query: true})
	}
	carriers.mu.Lock()
	if carriers.refs == nil {
		carriers.refs = make(map[carrier]int)
	}
	for _, c := range added {
		carriers.refs[c]++
	}
	publishCarriers()
	carriers.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			carriers.mu.Lock()
			defer carriers.mu.Unlock()
			for _, c := range added {
				if carriers.refs[c]--; carriers.refs[c] <= 0 {
					delete(carriers.refs, c)
				}
			}
			publishCarriers()
		})
	}
}

// publishCarriers rebuilds the snapshot; the caller holds carriers.mu (or is
// init).
func publishCarriers() {
	s := new(carrierSet)
	add := func(c carrier) {
		name := foldName(c.name)
		if c.query && !slices.Contains(s.query, name) {
			s.query = append(s.query, name)
		} else if !c.query && !slices.Contains(s.headers, name) {
			s.headers = append(s.headers, name)
		}
	}
	for _, c := range builtinCarriers {
		add(c)
	}
	for c := range carriers.refs {
		add(c)
	}
	carriers.set.Store(s)
}

// CarriesCredential reports whether r carries something in a place a
// credential is read from: a carrier header, whatever its value, or a carrier
// query parameter. It does not allocate.
func CarriesCredential(r *http.Request) bool {
	s := carriers.set.Load()
	for name := range r.Header {
		for _, c := range s.headers {
			if nameIs(name, c, false) {
				return true
			}
		}
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		return s.inQuery(r.URL.RawQuery)
	}
	return false
}

// inQuery reports whether a parameter of the raw query is a carrier.
func (s *carrierSet) inQuery(raw string) bool {
	found := false
	QueryFields(raw, func(_, name string) bool {
		for _, c := range s.query {
			if nameIs(name, c, true) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// nameIs reports whether name, percent-decoded when unescape is set, folds to
// folded (a foldName result).
func nameIs(name, folded string, unescape bool) bool {
	// Decoding only shortens a name.
	if len(name) < len(folded) || !unescape && len(name) != len(folded) {
		return false
	}
	j := 0
	for i := 0; i < len(name); i++ {
		b := name[i]
		if unescape {
			switch {
			case b == '+':
				b = ' '
			case b == '%' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]):
				b = unhex(name[i+1])<<4 | unhex(name[i+2])
				i += 2
			}
		}
		if j == len(folded) || foldByte(b) != folded[j] {
			return false
		}
		j++
	}
	return j == len(folded)
}

// FoldName returns a parameter or header name as QueryNameIs compares it:
// lower case, with '-', '.', ' ' and '[' as '_'.
func FoldName(name string) string { return foldName(name) }

// QueryNameIs reports whether the query parameter name as sent (still
// percent-encoded) is folded (a FoldName result) as the most lenient upstream
// reads it: percent-decoded, '+' as a space, ASCII case ignored, and '-',
// '_', '.', ' ' and '[' alike (PHP reads api.key as api_key, ASP.NET ignores
// case). It does not allocate.
func QueryNameIs(name, folded string) bool { return nameIs(name, folded, true) }

// QueryFields calls yield with each field of a raw query (name=value, still
// encoded) and its name, splitting on both '&' and ';' (some servers take
// either as a separator), until yield returns false.
func QueryFields(raw string, yield func(field, name string) bool) {
	for len(raw) > 0 {
		end := strings.IndexAny(raw, "&;")
		field := raw
		if end >= 0 {
			field, raw = raw[:end], raw[end+1:]
		} else {
			raw = ""
		}
		name, _, _ := strings.Cut(field, "=")
		if !yield(field, name) {
			return
		}
	}
}

// foldName returns name as nameIs compares it.
func foldName(name string) string {
	b := []byte(name)
	for i := range b {
		b[i] = foldByte(b[i])
	}
	return string(b)
}

func foldByte(b byte) byte {
	switch {
	case b >= 'A' && b <= 'Z':
		return b + ('a' - 'A')
	case b == '-', b == '.', b == ' ', b == '[':
		return '_'
	}
	return b
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func unhex(b byte) byte {
	switch {
	case b >= 'a':
		return b - 'a' + 10
	case b >= 'A':
		return b - 'A' + 10
	}
	return b - '0'
}
