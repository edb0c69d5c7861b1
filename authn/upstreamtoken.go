package authn

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/authn"
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

	minter *authn.UpstreamMinter
}

var bodyTokenUnavailable = problemBody(http.StatusServiceUnavailable, "the gateway could not sign a token for the upstream; retry later")

func (u *UpstreamTokenConfig) provision(ctx caddy.Context) error {
	if u.Header == "" {
		u.Header = "X-Apigate-Token"
	}
	if u.TTL == 0 {
		u.TTL = caddy.Duration(time.Minute)
	}
	if u.Issuer == "" {
		u.Issuer = "caddy-apigate"
	}
	if err := u.validate(); err != nil {
		return err
	}
	u.Header = http.CanonicalHeaderKey(u.Header)
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	signer, err := app.Signer()
	if err != nil {
		return fmt.Errorf("upstream_token: %w", err)
	}
	u.minter = &authn.UpstreamMinter{Signer: signer, Issuer: u.Issuer, Audience: u.Audience, TTL: time.Duration(u.TTL)}
	return nil
}

func (u *UpstreamTokenConfig) validate() error {
	if u.Header != "" && !validToken(u.Header) {
		return fmt.Errorf("upstream_token: header %q is not a valid header name", u.Header)
	}
	if u.TTL < 0 || time.Duration(u.TTL) > authn.MaxUpstreamTTL {
		return fmt.Errorf("upstream_token: ttl must be between 1s and %s", authn.MaxUpstreamTTL)
	}
	if u.Audience == "" {
		return errors.New("upstream_token: audience is required")
	}
	return nil
}

// apply sets the upstream token on r; it answers 503 itself when it cannot.
func (a *Auth) applyUpstreamToken(w http.ResponseWriter, r *http.Request, id *authn.Identity, now time.Time) (ok bool, err error) {
	u := a.UpstreamToken
	r.Header.Del(u.Header)
	tok, err := u.minter.Mint(id, now)
	if err != nil {
		if c := a.logger.Check(zapcore.ErrorLevel, "signing the upstream token failed"); c != nil {
			c.Write(zap.Error(err))
		}
		w.Header().Set("Retry-After", "5")
		return false, writeProblem(w, http.StatusServiceUnavailable, bodyTokenUnavailable)
	}
	r.Header.Set(u.Header, tok)
	return true, nil
}

// JWKSHandler serves the public keys the gateway signs upstream tokens with,
// as a JWKS (application/jwk-set+json), for upstreams to verify them. It has
// no directive order: place it in a route or handle block, e.g.
// `handle /.well-known/jwks.json { api_jwks }`.
type JWKSHandler struct {
	signer *authn.Signer
	maxAge string
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
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.signer, err = app.Signer()
	if err != nil {
		return fmt.Errorf("api_jwks: %w", err)
	}
	// Caches must see a new key before its first use: half the publish-ahead.
	h.maxAge = fmt.Sprintf("public, max-age=%d", int(h.signer.PublishAhead()/2/time.Second))
	return nil
}

func (h *JWKSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return writeProblem(w, http.StatusMethodNotAllowed, bodyMethodNotAllowed)
	}
	doc := h.signer.JWKS()
	hd := w.Header()
	hd.Set("Content-Type", "application/jwk-set+json")
	hd.Set("Cache-Control", h.maxAge)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", fmt.Sprint(len(doc)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(doc)
	return err
}

var bodyMethodNotAllowed = problemBody(http.StatusMethodNotAllowed, "only GET and HEAD are allowed here")

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*JWKSHandler)(nil)
	_ caddy.Provisioner           = (*JWKSHandler)(nil)
)
