package authn

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/authn"
)

// IntrospectMethod authenticates Bearer tokens through the identity provider's
// OAuth 2.0 token introspection endpoint, RFC 7662 (method "introspect").
// Only the configured URL is ever called. Answers are cached by a hash of the
// token, never past the token's exp; a provider that cannot be reached gets
// the caller a 503 with Retry-After, never a pass.
//
// Listed after a jwt method, it receives the Bearer tokens that are not JWTs
// (opaque tokens); listed first, it receives every Bearer token.
type IntrospectMethod struct {
	// URL is the introspection endpoint (https, or http to a loopback address).
	URL string `json:"url,omitempty"`

	// ClientID and ClientSecret authenticate the gateway to the provider.
	// Placeholders such as {env.INTROSPECT_SECRET} are expanded when the config
	// is loaded. Required.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`

	// AuthMethod is how the client credentials are sent: client_secret_basic
	// (HTTP Basic) or client_secret_post (form body). Default: client_secret_basic.
	AuthMethod string `json:"auth_method,omitempty"`

	// Cache is how long an active token's answer is reused; never past the
	// token's exp. A revoked token keeps working at most this long. Default: 30s.
	Cache caddy.Duration `json:"cache,omitempty"`

	// NegativeCache is how long an inactive token's answer is reused. Default: 5s.
	NegativeCache caddy.Duration `json:"negative_cache,omitempty"`

	// CacheSize is the most answers remembered. Default: 10000.
	CacheSize int `json:"cache_size,omitempty"`

	// Timeout bounds each call to the provider. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Issuer, when set, must equal the answer's "iss". Default: not checked.
	Issuer string `json:"issuer,omitempty"`

	// Audience, when set, lists accepted values of the answer's "aud".
	// Default: not checked.
	Audience []string `json:"audience,omitempty"`

	// ConsumerClaim names the answer member that becomes {http.auth.user.id}.
	// Default: sub.
	ConsumerClaim string `json:"consumer_claim,omitempty"`

	// ScopesClaim names the members holding scopes. Default: scope.
	ScopesClaim []string `json:"scopes_claim,omitempty"`

	// Claims names other members to expose as {http.auth.user.<name>}.
	Claims []string `json:"claims,omitempty"`

	in *authn.Introspector
}

// CaddyModule returns the Caddy module information.
func (IntrospectMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.introspect",
		New: func() caddy.Module { return new(IntrospectMethod) },
	}
}

// Provision fills the defaults and prepares the client.
func (m *IntrospectMethod) Provision(ctx caddy.Context) error {
	if err := registerMetrics(ctx, idpRequests); err != nil {
		return err
	}
	if m.Cache == 0 {
		m.Cache = caddy.Duration(30 * time.Second)
	}
	if m.NegativeCache == 0 {
		m.NegativeCache = caddy.Duration(5 * time.Second)
	}
	if m.CacheSize == 0 {
		m.CacheSize = 10000
	}
	if m.Timeout == 0 {
		m.Timeout = caddy.Duration(5 * time.Second)
	}
	if m.AuthMethod == "" {
		m.AuthMethod = "client_secret_basic"
	}
	if err := m.validate(); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	m.in = &authn.Introspector{
		URL:           m.URL,
		ClientID:      repl.ReplaceAll(m.ClientID, ""),
		ClientSecret:  repl.ReplaceAll(m.ClientSecret, ""),
		AuthPost:      m.AuthMethod == "client_secret_post",
		Client:        authn.NewHTTPClient(time.Duration(m.Timeout)),
		Cache:         authn.NewTokenCache(m.CacheSize),
		CacheTTL:      time.Duration(m.Cache),
		NegativeTTL:   time.Duration(m.NegativeCache),
		Issuer:        m.Issuer,
		Audiences:     m.Audience,
		ConsumerClaim: m.ConsumerClaim,
		ScopesClaims:  m.ScopesClaim,
		Claims:        m.Claims,
		Observe:       observeIdP("introspect"),
	}
	if m.in.ClientSecret == "" {
		return errors.New("introspect: client_secret is empty (is its environment variable set?)")
	}
	return nil
}

// Validate checks the configuration.
func (m *IntrospectMethod) Validate() error { return m.validate() }

func (m *IntrospectMethod) validate() error {
	if err := authn.CheckFetchURL(m.URL); err != nil {
		return fmt.Errorf("introspect: url: %w", err)
	}
	if m.ClientID == "" || m.ClientSecret == "" {
		return errors.New("introspect: client_id and client_secret are required")
	}
	switch m.AuthMethod {
	case "", "client_secret_basic", "client_secret_post":
	default:
		return fmt.Errorf("introspect: auth_method %q is not client_secret_basic or client_secret_post", m.AuthMethod)
	}
	for name, d := range map[string]caddy.Duration{"cache": m.Cache, "negative_cache": m.NegativeCache, "timeout": m.Timeout} {
		if d < 0 {
			return fmt.Errorf("introspect: %s must not be negative", name)
		}
	}
	if m.CacheSize < 0 {
		return errors.New("introspect: cache_size must not be negative")
	}
	for _, c := range m.Claims {
		if reservedPlaceholder(c) || c == "" {
			return fmt.Errorf("introspect: claim %q cannot be exposed: its placeholder name is taken", c)
		}
	}
	return nil
}

// Authenticate introspects the request's Bearer token.
func (m *IntrospectMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*authn.Identity, error) {
	return m.in.Authenticate(r, clientIP, now)
}

// Carriers returns where the method reads tokens.
func (m *IntrospectMethod) Carriers() authn.Carriers { return m.in.Carriers() }

// Interface guards
var (
	_ caddy.Provisioner = (*IntrospectMethod)(nil)
	_ caddy.Validator   = (*IntrospectMethod)(nil)
	_ AuthMethod        = (*IntrospectMethod)(nil)
)
