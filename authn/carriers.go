package authn

import (
	"net/http"
	"slices"
	"strings"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Carriers are the places of a request where authentication methods read
// credentials: request headers and query parameters. A method states its
// own; api_auth joins those of every configured method once, at provision.
//
// Any value in a carrier counts as a credential, whether or not a method
// would accept it (`Authorization: Basic ...` counts too): a request holding
// two of them is ambiguous, and once a method has decided, every carrier is
// emptied so that only the verified credential's effect (the identity)
// reaches the upstream. Query parameters count under every name a lenient
// upstream reads as theirs (gateway.QueryNameIs: API_KEY, api.key, api%5Fkey,
// after a ';'); header names need no such care, as Caddy drops those with '_'
// or '.' before any handler runs.
//
// Build it with AddHeader, AddQuery and Add before use; then Count and Strip
// may be called concurrently. The zero value carries nothing.
type Carriers struct {
	headers []string // canonical header names
	query   []string // query parameter names, as decoded
	folded  []string // query names, gateway.FoldName'd
}

// AddHeader adds the request header name.
func (c *Carriers) AddHeader(name string) {
	name = http.CanonicalHeaderKey(name)
	if name != "" && !slices.Contains(c.headers, name) {
		c.headers = append(c.headers, name)
	}
}

// AddQuery adds the query parameter name.
func (c *Carriers) AddQuery(name string) {
	if name != "" && !slices.Contains(c.query, name) {
		c.query = append(c.query, name)
		c.folded = append(c.folded, gateway.FoldName(name))
	}
}

// Add adds every carrier of o.
func (c *Carriers) Add(o Carriers) {
	for _, h := range o.headers {
		c.AddHeader(h)
	}
	for _, q := range o.query {
		c.AddQuery(q)
	}
}

// Headers returns the header names, canonical. The caller must not modify
// the slice.
func (c *Carriers) Headers() []string { return c.headers }

// Query returns the query parameter names. The caller must not modify the
// slice.
func (c *Carriers) Query() []string { return c.query }

// Count returns how many credentials r holds in c: each value of a carrier
// header and each field of the query named as a carrier (under any spelling
// gateway.QueryNameIs takes, with or without a value) counts once. It does
// not allocate.
func (c *Carriers) Count(r *http.Request) int {
	n := 0
	for _, h := range c.headers {
		n += len(r.Header[h])
	}
	if len(c.folded) == 0 || r.URL == nil || r.URL.RawQuery == "" {
		return n
	}
	return n + c.countQuery(r.URL.RawQuery)
}

func (c *Carriers) isCarrier(queryName string) bool {
	for _, f := range c.folded {
		if gateway.QueryNameIs(queryName, f) {
			return true
		}
	}
	return false
}

// Strip removes every carrier from r: the headers, and the query fields Count
// counts from the URL and RequestURI (the other fields are kept byte for
// byte, with the separators that followed them).
func (c *Carriers) Strip(r *http.Request) {
	for _, h := range c.headers {
		delete(r.Header, h)
	}
	if len(c.folded) == 0 || r.URL == nil || r.URL.RawQuery == "" || c.countQuery(r.URL.RawQuery) == 0 {
		return
	}
	raw := r.URL.RawQuery
	kept := make([]byte, 0, len(raw))
	at := 0
	gateway.QueryFields(raw, func(field, name string) bool {
		end := at + len(field)
		if end < len(raw) {
			end++ // the separator after the field
		}
		if !c.isCarrier(name) {
			kept = append(kept, raw[at:end]...)
		}
		at = end
		return true
	})
	r.URL.RawQuery = strings.TrimRight(string(kept), "&;")
	if r.RequestURI != "" {
		r.RequestURI = r.URL.RequestURI()
	}
}

func (c *Carriers) countQuery(raw string) int {
	n := 0
	gateway.QueryFields(raw, func(_, name string) bool {
		if c.isCarrier(name) {
			n++
		}
		return true
	})
	return n
}
