package authn

import (
	"net/http"
	"slices"
	"strings"
)

// Carriers are the places of a request where authentication methods read
// credentials: request headers and query parameters. A method states its
// own; api_auth joins those of every configured method once, at provision.
//
// Any value in a carrier counts as a credential, whether or not a method
// would accept it (`Authorization: Basic ...` counts too): a request holding
// two of them is ambiguous, and once a method has decided, every carrier is
// emptied so that only the verified credential's effect (the identity)
// reaches the upstream.
//
// Build it with AddHeader, AddQuery and Add before use; then Count and Strip
// may be called concurrently. The zero value carries nothing.
type Carriers struct {
	headers []string // canonical header names
	query   []string // query parameter names, as decoded
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
// header and each occurrence of a carrier query parameter (spelled plainly or
// percent-encoded, with or without a value) counts once. It does not
// allocate for parameter names without percent escapes.
func (c *Carriers) Count(r *http.Request) int {
	n := 0
	for _, h := range c.headers {
		n += len(r.Header[h])
	}
	if len(c.query) == 0 || r.URL == nil || r.URL.RawQuery == "" {
		return n
	}
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		for _, q := range c.query {
			if isParam(part, q) {
				n++
				break
			}
		}
	}
	return n
}

// Strip removes every carrier from r: the headers, and the query parameters
// from the URL and RequestURI (the other parameters are kept byte for byte).
func (c *Carriers) Strip(r *http.Request) {
	for _, h := range c.headers {
		delete(r.Header, h)
	}
	if r.URL == nil || r.URL.RawQuery == "" {
		return
	}
	for _, q := range c.query {
		if hasParam(r.URL.RawQuery, q) {
			StripQueryParam(r, q)
		}
	}
}
