package authn

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// APIKeyMethod authenticates with the gateway's API keys (method "api_key").
type APIKeyMethod struct {
	// Header is the request header that carries the key. Default: X-API-Key.
	// `Authorization: Bearer <key>` is always accepted too.
	Header string `json:"header,omitempty"`

	// Query is the name of a query parameter that may carry the key. Default:
	// none (off). Keys in URLs end up in logs and browser histories: prefer the
	// header.
	Query string `json:"query,omitempty"`

	keys    APIKey
	release func() // forgets the carriers registered at provision
}

// CaddyModule returns the Caddy module information.
func (APIKeyMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.api_key",
		New: func() caddy.Module { return new(APIKeyMethod) },
	}
}

// Provision connects the method to the key store.
func (m *APIKeyMethod) Provision(ctx caddy.Context) error {
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	if m.Header == "" {
		m.Header = "X-API-Key"
	}
	m.keys = APIKey{
		Header: http.CanonicalHeaderKey(m.Header),
		Query:  m.Query,
		Prefix: app.Store().Policy().Prefix,
		Keys:   app.Store(),
	}
	// api_cache must know where keys travel, wherever it sits.
	m.release = gateway.RegisterCarriers(m.Header, m.Query)
	return nil
}

// apiKeys returns the key check of the method (keyHolder).
func (m *APIKeyMethod) apiKeys() *APIKey { return &m.keys }

// Validate checks the configuration.
func (m *APIKeyMethod) Validate() error {
	if !validToken(m.Header) {
		return fmt.Errorf("api_key: header %q is not a valid header name", m.Header)
	}
	if m.Query != "" && !validToken(m.Query) {
		return fmt.Errorf("api_key: query %q is not a valid parameter name", m.Query)
	}
	return nil
}

// Cleanup forgets the carriers Provision registered.
func (m *APIKeyMethod) Cleanup() error {
	if m.release != nil {
		m.release()
	}
	return nil
}

// Carriers returns where the method reads keys.
func (m *APIKeyMethod) Carriers() Carriers { return m.keys.Carriers() }

// Authenticate checks the API key r carries, if any.
func (m *APIKeyMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	return m.keys.Authenticate(r, clientIP, now)
}

// validToken reports whether s is an RFC 9110 token (header names, and the
// names we accept for query parameters).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner  = (*APIKeyMethod)(nil)
	_ caddy.Validator    = (*APIKeyMethod)(nil)
	_ caddy.CleanerUpper = (*APIKeyMethod)(nil)
	_ AuthMethod         = (*APIKeyMethod)(nil)
	_ keyHolder          = (*APIKeyMethod)(nil)
)
