package authn

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// JWTMethod authenticates with JSON Web Tokens issued by an identity provider
// (method "jwt"), sent as `Authorization: Bearer <token>`. Keys come from a
// JWKS URL, the issuer's OpenID Connect discovery document, a PEM file, or an
// HMAC secret; exactly one of them must be configured.
//
// The token header never chooses the algorithm: it must be in Algorithms and
// fit the key. exp is required; iss and aud must match. Verified tokens are
// cached (by a hash of the token, never past its exp), so a caller repeating
// its token costs a map lookup; the cache belongs to the method's
// configuration and survives config reloads that keep it.
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
	// tokens naming a key id the gateway does not know; fetches of other
	// causes (start, reload, the scheduled refresh) do not delay them.
	// Default: 10s.
	UnknownKidInterval caddy.Duration `json:"unknown_kid_interval,omitempty"`

	// Timeout bounds each request to the provider. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// BoundTokens checks the binding of tokens bound to a client
	// certificate or a DPoP key, and accepts `Authorization: DPoP`. Default:
	// off (cnf is not checked).
	BoundTokens *BoundTokensConfig `json:"bound_tokens,omitempty"`

	secret   string // Secret, expanded
	pem      []byte // the contents of Key
	verifier *JWT
	remote   *pooledKeys
	keysName string // in jwksPool
	cacheKey string // in tokenCaches
}

// CaddyModule returns the Caddy module information.
func (JWTMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.jwt",
		New: func() caddy.Module { return new(JWTMethod) },
	}
}

// Provision fills the defaults, reads the key (file or expanded secret) and
// prepares the verifier on the pooled key set and token cache. It reaches no
// provider: the key set's refresh starts once the method is valid (start).
func (m *JWTMethod) Provision(ctx caddy.Context) error {
	if err := gateway.RegisterMetrics(ctx); err != nil {
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
	if len(m.Algorithms) == 0 {
		m.Algorithms = []string{"ES256", "RS256", "EdDSA"}
		if m.Secret != "" {
			m.Algorithms = []string{"HS256"}
		}
	}
	m.secret = caddy.NewReplacer().ReplaceAll(m.Secret, "")
	keys, err := m.keySource(ctx)
	if err != nil {
		return err
	}
	key := m.poolKey()
	cache, err := loadCache(key, m.CacheSize)
	if err != nil {
		return err
	}
	m.cacheKey = key
	m.verifier = &JWT{
		Keys:          keys,
		Algorithms:    m.Algorithms,
		Issuer:        m.Issuer,
		Audiences:     m.Audience,
		Leeway:        time.Duration(m.Leeway),
		Typ:           m.Typ,
		ConsumerClaim: m.ConsumerClaim,
		ScopesClaims:  m.ScopesClaim,
		Claims:        m.Claims,
		Cache:         cache,
		// Keys the provider withdraws stop working for cached tokens within this.
		CacheTTL: 5 * time.Minute,
	}
	if m.BoundTokens != nil {
		app, err := gateway.AppFrom(ctx)
		if err != nil {
			return err
		}
		m.verifier.Bound = m.BoundTokens.provision(app, time.Duration(m.Leeway))
	}
	return m.verifier.Init()
}

// keySource returns the keys the configuration names: the secret, the PEM
// file, or else the provider's JWKS (from the pool).
func (m *JWTMethod) keySource(ctx caddy.Context) (KeySource, error) {
	switch {
	case m.Secret != "":
		return StaticKeys{Set: NewKeySet([]*VerifyKey{HMACVerifyKey([]byte(m.secret))})}, nil
	case m.Key != "":
		data, err := os.ReadFile(m.Key)
		if err != nil {
			return nil, fmt.Errorf("jwt: reading key: %w", err)
		}
		vk, err := ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt: key %s: %w", m.Key, err)
		}
		m.pem = data
		return StaticKeys{Set: NewKeySet([]*VerifyKey{vk})}, nil
	}
	name := configKey("jwks", m.JWKSURL, m.discoveryIssuer(), m.UnknownKidInterval, m.Timeout)
	p, err := loadKeys(name, ctx.Logger(), func() *RemoteKeys {
		return &RemoteKeys{
			URL:                m.JWKSURL,
			Issuer:             m.discoveryIssuer(),
			Client:             NewHTTPClient(time.Duration(m.Timeout)),
			MinTTL:             time.Minute,
			MaxTTL:             24 * time.Hour,
			DefaultTTL:         10 * time.Minute,
			UnknownKidInterval: time.Duration(m.UnknownKidInterval),
		}
	})
	if err != nil {
		return nil, err
	}
	m.remote, m.keysName = p, name
	return p.RemoteKeys, nil
}

// poolKey names the method's token cache: every setting that decides what a
// token is worth, the key material included (hashed).
func (m *JWTMethod) poolKey() string {
	pemSum := sha256.Sum256(m.pem)
	return configKey("jwt", m.JWKSURL, m.discoveryIssuer(), m.Key, pemSum[:], m.secret,
		m.Issuer, m.Audience, m.Algorithms, m.Leeway, m.Typ,
		m.ConsumerClaim, m.ScopesClaim, m.Claims, m.CacheSize)
}

func (m *JWTMethod) discoveryIssuer() string {
	if m.Discovery {
		return m.Issuer
	}
	return ""
}

// start starts the refresh of the provider's keys (api_auth calls it once
// the method is valid).
func (m *JWTMethod) start() {
	if m.remote != nil {
		m.remote.start()
	}
}

// Validate checks the configuration.
func (m *JWTMethod) Validate() error {
	sources := 0
	for _, set := range []bool{m.JWKSURL != "", m.Discovery, m.Key != "", m.Secret != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return errors.New("jwt: configure exactly one of jwks_url, discovery, key and secret")
	case m.Issuer == "":
		return errors.New("jwt: issuer is required")
	case len(m.Audience) == 0:
		return errors.New("jwt: audience is required")
	case m.Secret != "" && len(m.secret) < 32:
		return errors.New("jwt: secret must be at least 32 bytes (is its environment variable set?)")
	case time.Duration(m.Leeway) > 5*time.Minute:
		return errors.New("jwt: leeway above 5m would accept tokens long expired")
	}
	if m.JWKSURL != "" {
		if err := CheckFetchURL(m.JWKSURL); err != nil {
			return fmt.Errorf("jwt: jwks_url: %w", err)
		}
	}
	if m.Discovery {
		if err := CheckFetchURL(m.Issuer); err != nil {
			return fmt.Errorf("jwt: discovery needs an issuer URL: %w", err)
		}
	}
	for _, a := range m.Algorithms {
		if err := checkAlgorithm(a, m.Secret != ""); err != nil {
			return err
		}
	}
	if err := checkClaims("jwt", m.Claims); err != nil {
		return err
	}
	if m.BoundTokens != nil {
		if err := m.BoundTokens.Validate(); err != nil {
			return err
		}
	}
	return checkNotNegative("jwt", m.CacheSize, map[string]caddy.Duration{
		"leeway": m.Leeway, "unknown_kid_interval": m.UnknownKidInterval, "timeout": m.Timeout})
}

// algorithms are the JWS algorithms a jwt method may allow.
var algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"}

func checkAlgorithm(a string, secret bool) error {
	if !slices.Contains(algorithms, a) {
		return fmt.Errorf("jwt: algorithm %q is not supported (use RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, or HS256/384/512 with a secret)", a)
	}
	hmac := strings.HasPrefix(a, "HS")
	if hmac && !secret {
		return fmt.Errorf("jwt: algorithm %s needs a secret (an HMAC algorithm with public keys lets anyone holding them sign)", a)
	}
	if !hmac && secret {
		return fmt.Errorf("jwt: algorithm %s does not use a secret", a)
	}
	return nil
}

// checkClaims refuses to expose a claim under a placeholder api_auth sets
// itself ({http.auth.user.id}, ...).
func checkClaims(method string, claims []string) error {
	for _, c := range claims {
		switch c {
		case "", "id", "scopes", "key_id", "method":
			return fmt.Errorf("%s: claim %q cannot be exposed: its placeholder name is taken", method, c)
		}
	}
	return nil
}

// checkNotNegative refuses a negative cache size or duration.
func checkNotNegative(method string, cacheSize int, durations map[string]caddy.Duration) error {
	if cacheSize < 0 {
		return fmt.Errorf("%s: cache_size must not be negative", method)
	}
	for name, d := range durations {
		if d < 0 {
			return fmt.Errorf("%s: %s must not be negative", method, name)
		}
	}
	return nil
}

// TakesBearer reports that the method reads Bearer tokens (BearerTaker).
func (m *JWTMethod) TakesBearer() bool { return true }

// Authenticate verifies a JWT sent as a Bearer token.
func (m *JWTMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	return m.verifier.Authenticate(r, clientIP, now)
}

// Carriers returns where the method reads tokens.
func (m *JWTMethod) Carriers() Carriers { return m.verifier.Carriers() }

// Cleanup releases the pooled key set and token cache; it works after a
// failed Provision too.
func (m *JWTMethod) Cleanup() error {
	var errs []error
	if m.remote != nil {
		_, err := jwksPool.Delete(m.keysName)
		errs = append(errs, err)
		m.remote = nil
	}
	if m.cacheKey != "" {
		_, err := tokenCaches.Delete(m.cacheKey)
		errs = append(errs, err)
		m.cacheKey = ""
	}
	return errors.Join(errs...)
}

// Interface guards
var (
	_ caddy.Provisioner  = (*JWTMethod)(nil)
	_ caddy.Validator    = (*JWTMethod)(nil)
	_ caddy.CleanerUpper = (*JWTMethod)(nil)
	_ AuthMethod         = (*JWTMethod)(nil)
	_ BearerTaker        = (*JWTMethod)(nil)
	_ starter            = (*JWTMethod)(nil)
	_ rejecter           = (*JWTMethod)(nil)
)
