package authz

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// MatchScope matches requests whose caller (established by api_auth earlier in
// the route) holds every one of the listed scopes. Requests without an identity
// do not match.
//
//	@admin api_scope admin
type MatchScope []string

// CaddyModule returns the Caddy module information.
func (MatchScope) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.api_scope",
		New: func() caddy.Module { return new(MatchScope) },
	}
}

// Validate checks the scopes.
func (m MatchScope) Validate() error {
	if len(m) == 0 {
		return errors.New("api_scope needs at least one scope")
	}
	for _, s := range m {
		if msg := gateway.CheckScope(s); msg != "" {
			return errors.New(msg)
		}
	}
	return nil
}

// MatchWithError reports whether the caller holds the scopes.
func (m MatchScope) MatchWithError(r *http.Request) (bool, error) {
	id := gateway.IdentityFrom(r)
	return id != nil && id.HasAll(m), nil
}

// Match reports whether the caller holds the scopes.
func (m MatchScope) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// Interface guards
var (
	_ caddyhttp.RequestMatcherWithError = (*MatchScope)(nil)
	_ caddy.Validator                   = (*MatchScope)(nil)
)
