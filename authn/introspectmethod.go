package authn

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// IntrospectMethod authenticates Bearer tokens through the identity provider's
// OAuth 2.0 token introspection endpoint, RFC 7662 (method "introspect").
// Only the configured URL is ever called. Answers are cached by a hash of the
// token, never past the token's exp, in a cache that belongs to the method's
// configuration and survives config reloads that keep it (a reload does not
// send each active token back to the provider); a provider that cannot be
// reached gets the caller a 503 with Retry-After, never a pass.
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

	in       *Introspector
	cacheKey string // in tokenCaches
}

// CaddyModule returns the Caddy module information.
func (IntrospectMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.introspect",
		New: func() caddy.Module { return new(IntrospectMethod) },
	}
}

// Provision fills the defaults, expands the client credentials and prepares
// the client on the pooled answer cache.
func (m *IntrospectMethod) Provision(ctx caddy.Context) error {
	if err := gateway.RegisterMetrics(ctx); err != nil {
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
	repl := caddy.NewReplacer()
	m.in = &Introspector{
		URL:           m.URL,
		ClientID:      repl.ReplaceAll(m.ClientID, ""),
		ClientSecret:  repl.ReplaceAll(m.ClientSecret, ""),
		AuthPost:      m.AuthMethod == "client_secret_post",
		Client:        NewHTTPClient(time.Duration(m.Timeout)),
		CacheTTL:      time.Duration(m.Cache),
		NegativeTTL:   time.Duration(m.NegativeCache),
		Issuer:        m.Issuer,
		Audiences:     m.Audience,
		ConsumerClaim: m.ConsumerClaim,
		ScopesClaims:  m.ScopesClaim,
		Claims:        m.Claims,
		Observe:       observeIdP("introspect"),
	}
	key := m.poolKey()
	cache, err := loadCache(key, m.CacheSize)
	if err != nil {
		return err
	}
	m.in.Cache, m.cacheKey = cache, key
	return nil
}

// poolKey names the method's answer cache: every setting that decides what
// an answer is worth, the client credentials included (hashed).
func (m *IntrospectMethod) poolKey() string {
	in := m.in
	return configKey("introspect", in.URL, in.ClientID, in.ClientSecret, in.AuthPost,
		m.Cache, m.NegativeCache, m.CacheSize, m.Issuer, m.Audience,
		m.ConsumerClaim, m.ScopesClaim, m.Claims)
}

// Validate checks the configuration.
func (m *IntrospectMethod) Validate() error {
	if err := CheckFetchURL(m.URL); err != nil {
		return fmt.Errorf("introspect: url: %w", err)
	}
	if m.ClientID == "" || m.ClientSecret == "" {
		return errors.New("introspect: client_id and client_secret are required")
	}
	if m.in.ClientSecret == "" {
		return errors.New("introspect: client_secret is empty (is its environment variable set?)")
	}
	switch m.AuthMethod {
	case "client_secret_basic", "client_secret_post":
	default:
		return fmt.Errorf("introspect: auth_method %q is not client_secret_basic or client_secret_post", m.AuthMethod)
	}
	if err := checkClaims("introspect", m.Claims); err != nil {
		return err
	}
	return checkNotNegative("introspect", m.CacheSize, map[string]caddy.Duration{
		"cache": m.Cache, "negative_cache": m.NegativeCache, "timeout": m.Timeout})
}

// TakesBearer reports that the method reads Bearer tokens (BearerTaker).
func (m *IntrospectMethod) TakesBearer() bool { return true }

// Authenticate introspects the request's Bearer token.
func (m *IntrospectMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	return m.in.Authenticate(r, clientIP, now)
}

// Carriers returns where the method reads tokens.
func (m *IntrospectMethod) Carriers() Carriers { return m.in.Carriers() }

// Cleanup releases the pooled answer cache; it works after a failed
// Provision too.
func (m *IntrospectMethod) Cleanup() error {
	if m.cacheKey == "" {
		return nil
	}
	_, err := tokenCaches.Delete(m.cacheKey)
	m.cacheKey = ""
	return err
}

// Interface guards
var (
	_ caddy.Provisioner  = (*IntrospectMethod)(nil)
	_ caddy.Validator    = (*IntrospectMethod)(nil)
	_ caddy.CleanerUpper = (*IntrospectMethod)(nil)
	_ AuthMethod         = (*IntrospectMethod)(nil)
	_ BearerTaker        = (*IntrospectMethod)(nil)
)
