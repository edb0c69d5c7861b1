package authn

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/apigate/caddy-apigate/keystore"
)

// KeyChecker verifies an API key; *keystore.Store is one.
type KeyChecker interface {
	Authenticate(key string, now time.Time) (*keystore.Entry, keystore.Result)
}

// APIKey authenticates requests by an API key sent in a header, as a Bearer
// token, or (when Query is set) in a query parameter.
//
// A Bearer token is taken as an API key only when it starts with the key prefix,
// so API keys and JWTs can share the Authorization header. Two copies of the
// credential (a repeated header or parameter, or a key in two places) are
// rejected rather than guessed at.
type APIKey struct {
	// Header is the canonical name of the key header; X-API-Key when empty.
	Header string
	// Query is the name of the query parameter carrying the key; off when empty.
	Query string
	// Prefix is the key prefix that marks a Bearer token as an API key.
	Prefix string
	// Keys verifies the key.
	Keys KeyChecker
}

// Name is the method name used in the {http.auth.user.method} placeholder.
func (a *APIKey) Name() string { return "api_key" }

type location uint8

const (
	inHeader location = iota + 1
	inBearer
	inQuery
)

// Authenticate finds the key in r, checks it at now for a client at clientIP,
// and on success removes it from r. It returns ErrNoCredential when r carries no
// API key, and a *Rejection when the key is present but not acceptable.
func (a *APIKey) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	key, where, err := a.find(r)
	if err != nil {
		return nil, err
	}
	// Whatever the outcome, the upstream must not see the credential.
	a.strip(r, where)
	e, res := a.Keys.Authenticate(key, now)
	switch res {
	case keystore.Accepted:
	case keystore.Malformed:
		return nil, ErrMalformed
	case keystore.Unknown:
		return nil, ErrUnknown
	case keystore.Revoked:
		return nil, ErrRevoked
	case keystore.Expired:
		return nil, ErrExpired
	default:
		return nil, ErrMismatch
	}
	if !e.AllowsIP(clientIP) {
		return nil, ErrIPNotAllowed
	}
	id := &Identity{
		Consumer:    e.Record.Consumer,
		Scopes:      e.Record.Scopes,
		ScopeString: e.ScopeString,
		KeyID:       e.Record.ID,
		Method:      "api_key",
		KeyInGrace:  e.Record.RotatedTo != "",
		Metadata:    e.MetaPlaceholders,
	}
	id.Deprecation, id.Sunset = e.Deprecation(now)
	return id, nil
}

// Carriers returns where the method reads keys: its header, Authorization,
// and its query parameter when one is set.
func (a *APIKey) Carriers() Carriers {
	var c Carriers
	c.AddHeader(a.header())
	c.AddHeader("Authorization")
	c.AddQuery(a.Query)
	return c
}

func (a *APIKey) header() string {
	if a.Header == "" {
		return "X-Api-Key"
	}
	return a.Header
}

// find returns the one key the request carries and where it was found.
func (a *APIKey) find(r *http.Request) (string, location, error) {
	var key string
	var where location
	found := 0

	if vals := r.Header.Values(a.header()); len(vals) > 0 {
		if len(vals) > 1 {
			return "", 0, ErrAmbiguous
		}
		key, where, found = strings.TrimSpace(vals[0]), inHeader, found+1
	}
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		token, ok := bearer(auth[0])
		if ok && a.isOurs(token) {
			if len(auth) > 1 {
				return "", 0, ErrAmbiguous
			}
			key, where, found = token, inBearer, found+1
		}
	}
	// Most queries hold no key: look before parsing (which allocates).
	if a.Query != "" && r.URL.RawQuery != "" && hasParam(r.URL.RawQuery, a.Query) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// A key parameter that does not decode: refuse rather than guess.
			return "", 0, ErrMalformed
		}
		if vals, ok := q[a.Query]; ok {
			if len(vals) > 1 {
				return "", 0, ErrAmbiguous
			}
			key, where, found = vals[0], inQuery, found+1
		}
	}
	switch {
	case found == 0:
		return "", 0, ErrNoCredential
	case found > 1:
		return "", 0, ErrAmbiguous
	case key == "":
		return "", where, ErrMalformed
	}
	return key, where, nil
}

// isOurs reports whether a Bearer token looks like one of our keys.
func (a *APIKey) isOurs(token string) bool {
	p := a.Prefix
	if p == "" {
		p = keystore.DefaultPrefix
	}
	return len(token) > len(p) && token[len(p)] == '_' && token[:len(p)] == p
}

// strip removes every copy of the credential from r.
func (a *APIKey) strip(r *http.Request, where location) {
	r.Header.Del(a.header())
	if where == inBearer {
		r.Header.Del("Authorization")
	}
	if a.Query != "" && where == inQuery {
		StripQueryParam(r, a.Query)
	}
}

// takeBearer returns the Bearer token of r that accept takes, and removes the
// Authorization header so the upstream never sees it. It returns
// ErrNoCredential when r carries no such token, and ErrMalformed when it
// carries more than one Authorization header (which one to believe is a guess
// the gateway does not make).
func takeBearer(r *http.Request, accept func(token string) bool) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", ErrNoCredential
	}
	token, ok := bearer(vals[0])
	if !ok || !accept(token) {
		for _, v := range vals[1:] {
			if t, ok := bearer(v); ok && accept(t) {
				r.Header.Del("Authorization")
				return "", ErrMalformed
			}
		}
		return "", ErrNoCredential
	}
	r.Header.Del("Authorization")
	if len(vals) > 1 {
		return "", ErrMalformed
	}
	return token, nil
}

func anyToken(string) bool { return true }

// bearer returns the token of an `Authorization: Bearer <token>` value (the
// scheme is case-insensitive, RFC 9110 section 11.1).
func bearer(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}

// isParam reports whether the raw query pair part (name=value) is parameter
// name, spelled plainly or percent-encoded.
func isParam(part, name string) bool {
	k, _, _ := strings.Cut(part, "=")
	if k == name {
		return true
	}
	uk, err := url.QueryUnescape(k)
	return err == nil && uk == name
}

func hasParam(raw, name string) bool {
	for part := range strings.SplitSeq(raw, "&") {
		if isParam(part, name) {
			return true
		}
	}
	return false
}

// StripQueryParam removes every value of name from the request's query string
// and from RequestURI, keeping the other parameters byte for byte.
func StripQueryParam(r *http.Request, name string) {
	raw := r.URL.RawQuery
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		if isParam(part, name) {
			continue
		}
		kept = append(kept, part)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	if r.RequestURI != "" {
		r.RequestURI = r.URL.RequestURI()
	}
}

// IsAPIKeyBearer reports whether the request's Authorization header carries a
// Bearer token that starts with the API key prefix. Token methods (jwt,
// introspect) leave such requests to the api_key method, so an API key is never
// sent to an identity provider, whatever order the methods are in.
func IsAPIKeyBearer(r *http.Request, prefix string) bool {
	if prefix == "" {
		prefix = keystore.DefaultPrefix
	}
	for _, v := range r.Header.Values("Authorization") {
		if token, ok := bearer(v); ok && len(token) > len(prefix) && token[len(prefix)] == '_' && token[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}
