// Package upstream holds api_upstream_auth: the credential the gateway gives
// the upstream, a token the caller's identity provider exchanges for the
// caller's token (RFC 8693) or the gateway's own token (client credentials).
package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UpstreamAuth is the api_upstream_auth handler: it puts a credential meant
// for the upstream into a request header. With TokenExchange, the credential
// is the caller's token (the subject token api_auth verified, a JWT or an
// introspected token) exchanged at the identity provider; with
// ClientCredentials, it is the gateway's own token. The caller's own
// credential never reaches the upstream: api_auth removes it.
//
// Tokens are cached per subject (by the SHA-256 of the subject token, never
// the token) until shortly before they expire, at most CacheSize of them,
// across config reloads that keep this configuration; concurrent misses for
// one subject make one token request. A provider that cannot be reached or
// fails gives 502 problem+json; one that refuses the exchange (invalid_grant,
// invalid_request, ...) gives 401. Neither answer says anything of the
// provider; the log line holds its status and OAuth error code only.
type UpstreamAuth struct {
	// TokenExchange exchanges the caller's token. One of TokenExchange and
	// ClientCredentials is required.
	TokenExchange *TokenExchange `json:"token_exchange,omitempty"`
	// ClientCredentials gets the gateway's own token.
	ClientCredentials *ClientCredentials `json:"client_credentials,omitempty"`
	// Header is the request header the token goes into. Default:
	// Authorization, as `Bearer <token>`; any other header gets the bare
	// token.
	Header string `json:"header,omitempty"`
	// Timeout bounds one token request. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// CacheSize is how many tokens are cached at most. Default: 10000.
	CacheSize int64 `json:"cache_size,omitempty"`

	header    string // canonical
	bearer    bool
	cache     *tokenCache
	cacheKey  string
	exchange  *exchanger
	own       func(context.Context) (token, error)
	timeout   time.Duration
	kind      string // token_exchange or client_credentials
	idpOK     prometheus.Counter
	idpErr    prometheus.Counter
	gate      *gateway.Gate
	noSubject *gateway.Answer
	refused   *gateway.Answer
	failed    *gateway.Answer
	logger    *zap.Logger
	now       func() time.Time
}

// CaddyModule returns the Caddy module information.
func (UpstreamAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_upstream_auth",
		New: func() caddy.Module { return new(UpstreamAuth) },
	}
}

// Defaults.
const (
	defaultTimeout   = 10 * time.Second
	defaultCacheSize = 10000
)

// Provision fills defaults, expands the secrets, loads the signing key and
// takes the token cache of this configuration from the pool.
func (u *UpstreamAuth) Provision(ctx caddy.Context) error {
	u.logger = ctx.Logger()
	if u.now == nil {
		u.now = time.Now
	}
	if u.Header == "" {
		u.Header = "Authorization"
	}
	u.header = http.CanonicalHeaderKey(u.Header)
	u.bearer = u.header == "Authorization"
	u.timeout = time.Duration(u.Timeout)
	if u.timeout <= 0 {
		u.timeout = defaultTimeout
	}
	if u.CacheSize <= 0 {
		u.CacheSize = defaultCacheSize
	}
	g, err := gateway.NewGate(ctx, "api_upstream_auth", gateway.Enforce)
	if err != nil {
		return err
	}
	u.gate = g
	u.noSubject = g.Answer(http.StatusUnauthorized, "no_subject_token",
		"this API needs a bearer token from the identity provider, not an API key", "WWW-Authenticate", gateway.ChallengeBare)
	u.refused = g.Answer(http.StatusUnauthorized, "exchange_refused",
		"the credential was not accepted for this API", "WWW-Authenticate", gateway.ChallengeInvalid)
	u.failed = g.Answer(http.StatusBadGateway, "provider_unavailable",
		"the gateway could not obtain a credential for the upstream")
	if err := gateway.RegisterMetrics(ctx, collectors...); err != nil {
		return err
	}
	if err := u.Validate(); err != nil {
		return err
	}
	client := &http.Client{Timeout: u.timeout}
	effective, err := u.build(client)
	if err != nil {
		return err
	}
	u.idpOK = gateway.IdPRequests.WithLabelValues(u.kind, "ok")
	u.idpErr = gateway.IdPRequests.WithLabelValues(u.kind, "error")
	sum := sha256.Sum256(effective)
	u.cacheKey = "api_upstream_auth/" + hex.EncodeToString(sum[:])
	u.cache, err = loadCache(u.cacheKey, u.CacheSize)
	if err != nil {
		u.cacheKey = ""
	}
	return err
}

// build makes the token clients and returns the effective configuration
// (secrets expanded), which keys the token cache.
func (u *UpstreamAuth) build(client *http.Client) ([]byte, error) {
	if cc := u.ClientCredentials; cc != nil {
		u.kind = "client_credentials"
		secret := expandSecret(cc.ClientSecret)
		u.own = newOwnToken(cc, secret, client).token
		return json.Marshal([]any{u.kind, cc, secret, u.header, u.CacheSize})
	}
	te := u.TokenExchange
	u.kind = "token_exchange"
	secret := expandSecret(te.ClientSecret)
	x := &exchanger{
		ep:        endpoint{url: te.TokenURL, client: client},
		tokenType: tokenTypeAccessToken,
		params:    requestParams(te.Audience, te.Scope, te.Resource),
		now:       u.now,
	}
	if te.SubjectTokenType == "jwt" {
		x.tokenType = tokenTypeJWT
	}
	switch te.AuthMethod {
	case authPost:
		x.ep.auth = secretPost{te.ClientID, secret}
	case authPrivateKey:
		key, method, err := loadSigningKey(te.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("api_upstream_auth: token_exchange: %w", err)
		}
		aud := te.TokenURL
		if te.AssertionAudience != "" {
			aud = te.AssertionAudience
		}
		x.ep.auth = &privateKeyJWT{id: te.ClientID, audience: aud, keyID: te.KeyID, method: method, key: key}
	default:
		x.ep.auth = secretBasic{te.ClientID, secret}
	}
	u.exchange = x
	if te.Fallback != "" {
		u.own = x.own
	}
	return json.Marshal([]any{u.kind, te, secret, u.header, u.CacheSize})
}

// Validate checks the configuration.
func (u *UpstreamAuth) Validate() error {
	switch {
	case (u.TokenExchange == nil) == (u.ClientCredentials == nil):
		return fmt.Errorf("api_upstream_auth: give one of token_exchange and client_credentials")
	case u.Header != "" && !validHeaderName(u.Header):
		return fmt.Errorf("api_upstream_auth: header %q is not a header name", u.Header)
	case u.Timeout < 0 || u.CacheSize < 0:
		return fmt.Errorf("api_upstream_auth: timeout and cache_size must not be negative")
	case u.TokenExchange != nil:
		return u.TokenExchange.validate()
	}
	return u.ClientCredentials.validate()
}

// Cleanup releases the token cache; the last handler using it frees it.
func (u *UpstreamAuth) Cleanup() error {
	if u.cacheKey != "" {
		_, err := caches.Delete(u.cacheKey)
		return err
	}
	return nil
}

func (u *UpstreamAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := u.now()
	key := ownKey
	subject := ""
	if u.exchange != nil {
		if subject = gateway.SubjectTokenFrom(r); subject != "" {
			// Hashed in place: the token is not copied.
			key = sha256.Sum256(unsafe.Slice(unsafe.StringData(subject), len(subject)))
		} else if u.own == nil {
			_, err := u.gate.Reject(w, r, u.noSubject)
			return err
		}
	}
	e := u.cache.get(key, start)
	if e != nil {
		tokenHits.Inc()
	} else {
		var err error
		if e, err = u.fetch(r, key, subject, start); err != nil {
			return u.refuse(w, r, err)
		}
	}
	r.Header[u.header] = e.header
	u.gate.Pass(start)
	err := next.ServeHTTP(w, r)
	// The request Caddy logs once the handlers return is this one: the token
	// leaves it, so an access log showing a header other than Authorization
	// (which Caddy redacts) never shows it.
	delete(r.Header, u.header)
	return err
}

// fetch asks the provider for the token of key (subject's, or the gateway's
// own when subject is empty), one request among concurrent misses. The
// request runs on a context no caller's cancellation ends, since the flight
// serves them all, bounded by the timeout.
func (u *UpstreamAuth) fetch(r *http.Request, key subjectKey, subject string, now time.Time) (*cached, error) {
	tokenMisses.Inc()
	return u.cache.fetch(r.Context(), key, now, u.headerValue, func(ctx context.Context) (token, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.timeout)
		defer cancel()
		var tok token
		var err error
		if subject != "" {
			tok, err = u.exchange.exchange(ctx, subject)
		} else {
			tok, err = u.own(ctx)
		}
		if err != nil {
			u.idpErr.Inc()
		} else {
			u.idpOK.Inc()
		}
		return tok, err
	})
}

// refuse answers a request whose token could not be obtained: 401 when the
// provider refused, 502 when it failed. The log line holds the provider's
// status and error code, never a token or a secret.
func (u *UpstreamAuth) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	pe := asProviderError(err)
	ans, msg := u.failed, "token endpoint failed"
	if pe.Refused {
		ans, msg = u.refused, "token endpoint refused"
	}
	if c := u.logger.Check(zapcore.WarnLevel, msg); c != nil {
		c.Write(zap.String("grant", u.kind), zap.Int("status", pe.Status), zap.String("error", pe.Code))
	}
	_, rerr := u.gate.Reject(w, r, ans)
	return rerr
}

// headerValue is what the header holds for tok.
func (u *UpstreamAuth) headerValue(tok string) string {
	if u.bearer {
		return "Bearer " + tok
	}
	return tok
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '<' || c == '>' || c == '@' || c == ',' ||
			c == ';' || c == ':' || c == '\\' || c == '"' || c == '/' || c == '[' || c == ']' || c == '?' ||
			c == '=' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*UpstreamAuth)(nil)
	_ caddy.Validator             = (*UpstreamAuth)(nil)
	_ caddy.CleanerUpper          = (*UpstreamAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*UpstreamAuth)(nil)
)
