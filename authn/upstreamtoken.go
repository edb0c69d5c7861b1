package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UpstreamTokenConfig makes api_auth hand the upstream a short-lived JWT of
// its own, signed by the gateway (see the api_gateway app's signing option),
// so the upstream can verify who is calling against the gateway's JWKS
// (api_jwks) instead of trusting headers. Claims: iss, sub (the consumer),
// aud, scope (space-separated), auth_method, key_id (API keys), iat, nbf, exp,
// jti; the header names the signing key (kid).
type UpstreamTokenConfig struct {
	// Header is the request header that carries the token to the upstream; a
	// value the client sent in it is replaced. Default: X-Apigate-Token.
	Header string `json:"header,omitempty"`

	// TTL is the life of a token, at most 1h. Default: 60s.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Audience is the token's "aud": the upstream it is meant for. Required.
	Audience string `json:"audience,omitempty"`

	// Issuer is the token's "iss". Default: caddy-apigate.
	Issuer string `json:"issuer,omitempty"`

	header string // Header, canonical
	minter *UpstreamMinter
}

// signerApp is the part of the api_gateway app that signs tokens: the
// gateway's signing keys (its signing option), kept in Caddy's storage.
type signerApp interface {
	Signer() (*Signer, error)
}

// signerOf returns the gateway's signer.
func signerOf(app gateway.App) (*Signer, error) {
	sa, ok := app.(signerApp)
	if !ok {
		return nil, fmt.Errorf("the api_gateway app (%T) signs no tokens", app)
	}
	return sa.Signer()
}

func (u *UpstreamTokenConfig) provision(app gateway.App) error {
	if u.Header == "" {
		u.Header = "X-Apigate-Token"
	}
	if u.TTL == 0 {
		u.TTL = caddy.Duration(time.Minute)
	}
	if u.Issuer == "" {
		u.Issuer = "caddy-apigate"
	}
	u.header = http.CanonicalHeaderKey(u.Header)
	signer, err := signerOf(app)
	if err != nil {
		return fmt.Errorf("upstream_token: %w", err)
	}
	u.minter = &UpstreamMinter{Signer: signer, Issuer: u.Issuer, Audience: u.Audience, TTL: time.Duration(u.TTL)}
	return nil
}

// Validate checks the configuration.
func (u *UpstreamTokenConfig) Validate() error {
	if !validToken(u.Header) {
		return fmt.Errorf("upstream_token: header %q is not a valid header name", u.Header)
	}
	if u.TTL <= 0 || time.Duration(u.TTL) > MaxUpstreamTTL {
		return fmt.Errorf("upstream_token: ttl must be between 1s and %s", MaxUpstreamTTL)
	}
	if u.Audience == "" {
		return errors.New("upstream_token: audience is required")
	}
	return nil
}

// apply sets the upstream token on r, replacing any value the client sent;
// it reports false when it could not sign one.
func (u *UpstreamTokenConfig) apply(r *http.Request, id *Identity, now time.Time, logger *zap.Logger) bool {
	delete(r.Header, u.header)
	tok, err := u.minter.Mint(id, now)
	if err != nil {
		if c := logger.Check(zapcore.ErrorLevel, "signing the upstream token failed"); c != nil {
			c.Write(zap.Error(err))
		}
		return false
	}
	r.Header[u.header] = []string{tok}
	return true
}

// JWKSHandler serves the public keys the gateway signs upstream tokens with,
// as a JWKS (application/jwk-set+json), for upstreams to verify them. It has
// no directive order: place it in a route or handle block, e.g.
// `handle /.well-known/jwks.json { api_jwks }`.
type JWKSHandler struct {
	signer *Signer
	maxAge string
	gate   *gateway.Gate
	method *gateway.Answer
}

// CaddyModule returns the Caddy module information.
func (JWKSHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_jwks",
		New: func() caddy.Module { return new(JWKSHandler) },
	}
}

// Provision connects the handler to the gateway's signer.
func (h *JWKSHandler) Provision(ctx caddy.Context) error {
	g, err := gateway.NewGate(ctx, "api_jwks", gateway.Enforce)
	if err != nil {
		return err
	}
	h.gate = g
	h.method = g.Answer(http.StatusMethodNotAllowed, "method_not_allowed", "only GET and HEAD are allowed here", "Allow", "GET, HEAD")
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	h.signer, err = signerOf(app)
	if err != nil {
		return fmt.Errorf("api_jwks: %w", err)
	}
	// Caches must see a new key before its first use: half the publish-ahead.
	h.maxAge = "public, max-age=" + strconv.Itoa(int(h.signer.PublishAhead()/2/time.Second))
	return nil
}

func (h *JWKSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		_, err := h.gate.Reject(w, r, h.method)
		return err
	}
	h.gate.Pass(start)
	doc := h.signer.JWKS()
	hd := w.Header()
	hd.Set("Content-Type", "application/jwk-set+json")
	hd.Set("Cache-Control", h.maxAge)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(doc)
	return err
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*JWKSHandler)(nil)
	_ caddy.Provisioner           = (*JWKSHandler)(nil)
)
