package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
)

// JWTMethod authenticates with JSON Web Tokens issued by an identity provider
// (method "jwt"), sent as `Authorization: Bearer <token>`. Keys come from a
// JWKS URL, the issuer's OpenID Connect discovery document, a PEM file, or an
// HMAC secret; exactly one of them must be configured.
//
// The token header never chooses the algorithm: it must be in Algorithms and
// fit the key. exp is required; iss and aud must match. Verified tokens are
// cached (by a hash of the token, never past its exp), so a caller repeating
// its token costs a map lookup.
type JWTMethod struct {
	// JWKSURL is the URL of the provider's JWKS (https, or http to a loopback
	// address). Keys are cached as the response's Cache-Control says, between
	// 1 minute and 24 hours (10 minutes without caching headers), refreshed in
	// the background, and refreshed when a token names an unknown key id (at
	// most once per UnknownKidInterval).
	JWKSURL string `json:"jwks_url,omitempty"`

	// Discovery finds the JWKS URL in the issuer's OpenID Connect discovery
	// document (<issuer>/.well-known/openid-configuration). Default: false.
	Discovery bool `json:"discovery,omitempty"`

	// Key is the path of a PEM file holding the provider's public key (PKIX
	// "PUBLIC KEY", "RSA PUBLIC KEY" or a certificate).
	Key string `json:"key,omitempty"`

	// Secret is an HMAC secret (HS256/384/512) of at least 32 bytes. Placeholders
	// such as {env.JWT_SECRET} and {file./path} are expanded when the config is
	// loaded.
	Secret string `json:"secret,omitempty"`

	// Issuer is the required value of the "iss" claim. Required.
	Issuer string `json:"issuer,omitempty"`

	// Audience lists the accepted values of the "aud" claim: a token must name
	// at least one. Required.
	Audience []string `json:"audience,omitempty"`

	// Algorithms is the allow-list of JWS algorithms. Default: ES256 RS256 EdDSA
	// with keys, HS256 with a secret. HMAC algorithms are accepted only with a
	// secret, and a secret only with HMAC algorithms.
	Algorithms []string `json:"algorithms,omitempty"`

	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Default: 0.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// Typ, when set, is the required "typ" header, e.g. at+jwt (RFC 9068).
	// Default: not checked.
	Typ string `json:"typ,omitempty"`

	// ConsumerClaim names the claim that becomes {http.auth.user.id}. It must
	// be a non-empty string. Default: sub.
	ConsumerClaim string `json:"consumer_claim,omitempty"`

	// ScopesClaim names the claims holding scopes, as a space-separated string
	// or an array of strings; the scopes of every named claim are merged. A
	// name with dots that is not a top-level claim is a path into nested
	// objects (realm_access.roles). Default: scope.
	ScopesClaim []string `json:"scopes_claim,omitempty"`

	// Claims names other claims to expose as {http.auth.user.<name>}
	// placeholders. Strings are used as they are, arrays are joined by spaces,
	// objects are rendered as JSON. Default: none.
	Claims []string `json:"claims,omitempty"`

	// CacheSize is the most verified tokens remembered. Default: 10000.
	CacheSize int `json:"cache_size,omitempty"`

	// UnknownKidInterval is the least time between two JWKS fetches caused by
	// tokens naming a key id the gateway does not know. Default: 10s.
	UnknownKidInterval caddy.Duration `json:"unknown_kid_interval,omitempty"`

	// Timeout bounds each request to the provider. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	verifier  *authn.JWT
	remote    *authn.RemoteKeys
	remoteKey string
}

// CaddyModule returns the Caddy module information.
func (JWTMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.jwt",
		New: func() caddy.Module { return new(JWTMethod) },
	}
}

// jwksPool keeps each provider's key set (and its refresh loop) across config
// reloads, so a reload does not refetch the keys.
var jwksPool = caddy.NewUsagePool()

type pooledKeys struct {
	*authn.RemoteKeys
	cancel context.CancelFunc
}

func (p pooledKeys) Destruct() error { p.cancel(); return nil }

// Provision loads the keys and prepares the verifier.
func (m *JWTMethod) Provision(ctx caddy.Context) error {
	if err := registerMetrics(ctx, idpRequests); err != nil {
		return err
	}
	if m.ConsumerClaim == "" {
		m.ConsumerClaim = "sub"
	}
	if len(m.ScopesClaim) == 0 {
		m.ScopesClaim = []string{"scope"}
	}
	if m.CacheSize == 0 {
		m.CacheSize = 10000
	}
	if m.UnknownKidInterval == 0 {
		m.UnknownKidInterval = caddy.Duration(10 * time.Second)
	}
	if m.Timeout == 0 {
		m.Timeout = caddy.Duration(5 * time.Second)
	}
	secret := caddy.NewReplacer().ReplaceAll(m.Secret, "")
	if len(m.Algorithms) == 0 {
		if m.Secret != "" {
			m.Algorithms = []string{"HS256"}
		} else {
			m.Algorithms = []string{"ES256", "RS256", "EdDSA"}
		}
	}
	if err := m.validate(); err != nil {
		return err
	}
	if m.Secret != "" && len(secret) < 32 {
		return errors.New("jwt: secret must be at least 32 bytes")
	}

	var keys authn.KeySource
	switch {
	case m.Secret != "":
		keys = authn.StaticKeys{Set: authn.NewKeySet([]*authn.VerifyKey{authn.HMACVerifyKey([]byte(secret))})}
	case m.Key != "":
		data, err := os.ReadFile(m.Key)
		if err != nil {
			return fmt.Errorf("jwt: reading key: %w", err)
		}
		vk, err := authn.ParsePublicKeyPEM(data)
		if err != nil {
			return fmt.Errorf("jwt: key %s: %w", m.Key, err)
		}
		keys = authn.StaticKeys{Set: authn.NewKeySet([]*authn.VerifyKey{vk})}
	default:
		logger := ctx.Logger()
		m.remoteKey = fmt.Sprintf("jwks|%s|%s|%d|%d", m.JWKSURL, m.discoveryIssuer(), m.UnknownKidInterval, m.Timeout)
		val, _, err := jwksPool.LoadOrNew(m.remoteKey, func() (caddy.Destructor, error) {
			rk := &authn.RemoteKeys{
				URL:                m.JWKSURL,
				Client:             authn.NewHTTPClient(time.Duration(m.Timeout)),
				MinTTL:             time.Minute,
				MaxTTL:             24 * time.Hour,
				DefaultTTL:         10 * time.Minute,
				UnknownKidInterval: time.Duration(m.UnknownKidInterval),
				Observe:            observeIdP("jwks"),
				OnError: func(err error) {
					logger.Warn("refreshing the identity provider's keys failed; the cached keys stay in use", zap.Error(err))
				},
			}
			if m.Discovery {
				rk.Issuer = m.Issuer
			}
			runCtx, cancel := context.WithCancel(context.Background())
			go rk.Run(runCtx)
			return pooledKeys{RemoteKeys: rk, cancel: cancel}, nil
		})
		if err != nil {
			return err
		}
		m.remote = val.(pooledKeys).RemoteKeys
		keys = m.remote
	}
	m.verifier = &authn.JWT{
		Keys:          keys,
		Algorithms:    m.Algorithms,
		Issuer:        m.Issuer,
		Audiences:     m.Audience,
		Leeway:        time.Duration(m.Leeway),
		Typ:           m.Typ,
		ConsumerClaim: m.ConsumerClaim,
		ScopesClaims:  m.ScopesClaim,
		Claims:        m.Claims,
		Cache:         authn.NewTokenCache(m.CacheSize),
		// Keys the provider withdraws stop working for cached tokens within this.
		CacheTTL: 5 * time.Minute,
	}
	return m.verifier.Init()
}

func (m *JWTMethod) discoveryIssuer() string {
	if m.Discovery {
		return m.Issuer
	}
	return ""
}

// Validate checks the configuration.
func (m *JWTMethod) Validate() error { return m.validate() }

func (m *JWTMethod) validate() error {
	sources := 0
	for _, set := range []bool{m.JWKSURL != "", m.Discovery, m.Key != "", m.Secret != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return errors.New("jwt: configure exactly one of jwks_url, discovery, key and secret")
	}
	if m.Issuer == "" {
		return errors.New("jwt: issuer is required")
	}
	if len(m.Audience) == 0 {
		return errors.New("jwt: audience is required")
	}
	if m.JWKSURL != "" {
		if err := authn.CheckFetchURL(m.JWKSURL); err != nil {
			return fmt.Errorf("jwt: jwks_url: %w", err)
		}
	}
	if m.Discovery {
		if err := authn.CheckFetchURL(m.Issuer); err != nil {
			return fmt.Errorf("jwt: discovery needs an issuer URL: %w", err)
		}
	}
	for _, a := range m.Algorithms {
		if !supportedAlg(a) {
			return fmt.Errorf("jwt: algorithm %q is not supported (use RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, or HS256/384/512 with a secret)", a)
		}
		hmac := strings.HasPrefix(a, "HS")
		if hmac && m.Secret == "" {
			return fmt.Errorf("jwt: algorithm %s needs a secret (an HMAC algorithm with public keys lets anyone holding them sign)", a)
		}
		if !hmac && m.Secret != "" {
			return fmt.Errorf("jwt: algorithm %s does not use a secret", a)
		}
	}
	for _, c := range m.Claims {
		if reservedPlaceholder(c) || c == "" {
			return fmt.Errorf("jwt: claim %q cannot be exposed: its placeholder name is taken", c)
		}
	}
	for name, d := range map[string]caddy.Duration{"leeway": m.Leeway, "unknown_kid_interval": m.UnknownKidInterval, "timeout": m.Timeout} {
		if d < 0 {
			return fmt.Errorf("jwt: %s must not be negative", name)
		}
	}
	if time.Duration(m.Leeway) > 5*time.Minute {
		return errors.New("jwt: leeway above 5m would accept tokens long expired")
	}
	if m.CacheSize < 0 {
		return errors.New("jwt: cache_size must not be negative")
	}
	return nil
}

func supportedAlg(a string) bool {
	switch a {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512":
		return true
	}
	return false
}

// reservedPlaceholder reports whether {http.auth.user.<name>} is set by
// api_auth itself.
func reservedPlaceholder(name string) bool {
	switch name {
	case "id", "scopes", "key_id", "method":
		return true
	}
	return false
}

// Authenticate verifies a JWT sent as a Bearer token.
func (m *JWTMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*authn.Identity, error) {
	return m.verifier.Authenticate(r, clientIP, now)
}

// Carriers returns where the method reads tokens.
func (m *JWTMethod) Carriers() authn.Carriers { return m.verifier.Carriers() }

// Cleanup releases the pooled key set.
func (m *JWTMethod) Cleanup() error {
	if m.remote != nil {
		_, err := jwksPool.Delete(m.remoteKey)
		return err
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*JWTMethod)(nil)
	_ caddy.Validator    = (*JWTMethod)(nil)
	_ caddy.CleanerUpper = (*JWTMethod)(nil)
	_ AuthMethod         = (*JWTMethod)(nil)
)

// observeIdP counts requests of one kind to identity providers.
func observeIdP(kind string) func(ok bool) {
	okC, errC := idpRequests.WithLabelValues(kind, "ok"), idpRequests.WithLabelValues(kind, "error")
	return func(ok bool) {
		if ok {
			okC.Inc()
		} else {
			errC.Inc()
		}
	}
}
