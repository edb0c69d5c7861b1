package authn

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// BoundTokensConfig is the jwt method's bound_tokens: tokens bound to a key
// (cnf, RFC 7800) are accepted only from whoever holds it.
//
// A token with cnf.x5t#S256 is accepted only on a TLS connection whose client
// certificate has that thumbprint (RFC 8705; the server's client_auth must
// ask for certificates). A token with cnf.jkt is accepted only as
// `Authorization: DPoP <token>` with one DPoP header holding a valid proof
// (RFC 9449): typ dpop+jwt, an algorithm of ProofAlgorithms, its jwk's
// thumbprint equal to jkt, htm and htu of this request, iat within
// ProofWindow (plus the method's leeway), ath of the token, and a jti not
// seen before (cluster-wide with the app's Redis). Failures are answered 401
// with `WWW-Authenticate: DPoP algs="...", error="invalid_dpop_proof"`.
type BoundTokensConfig struct {
	// Required refuses tokens bound to nothing (bearer tokens). Default:
	// false (they are accepted).
	Required bool `json:"required,omitempty"`

	// ProofAlgorithms are the algorithms accepted for DPoP proofs
	// (asymmetric only). Default: ES256 ES384 PS256 RS256 EdDSA.
	ProofAlgorithms []string `json:"proof_algorithms,omitempty"`

	// ProofWindow is how old a DPoP proof may be. Default: 60s.
	ProofWindow caddy.Duration `json:"proof_window,omitempty"`
}

// DefaultProofAlgorithms are the DPoP proof algorithms accepted by default.
var DefaultProofAlgorithms = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"}

// provision builds the checks of bound tokens for verifier.
func (c *BoundTokensConfig) provision(app gateway.App, leeway time.Duration) *BoundTokens {
	if len(c.ProofAlgorithms) == 0 {
		c.ProofAlgorithms = DefaultProofAlgorithms
	}
	if c.ProofWindow == 0 {
		c.ProofWindow = caddy.Duration(time.Minute)
	}
	var seen JTICache = localJTIs
	if rc := app.RedisClient(); rc != nil {
		seen = &RedisJTI{Client: rc, Local: localJTIs}
	}
	challenge := fmt.Sprintf(`DPoP algs=%q, error="invalid_dpop_proof"`, strings.Join(c.ProofAlgorithms, " "))
	invalid, replayed := *ErrDPoP, *ErrDPoPReplayed
	invalid.Challenge, replayed.Challenge = challenge, challenge
	return &BoundTokens{
		Required:   c.Required,
		DPoP:       &DPoP{Algorithms: c.ProofAlgorithms, Window: time.Duration(c.ProofWindow), Leeway: max(leeway, 5*time.Second), Seen: seen},
		RequestURL: requestHTU,
		Invalid:    &invalid,
		Replayed:   &replayed,
	}
}

// Validate checks the configuration.
func (c *BoundTokensConfig) Validate() error {
	for _, a := range c.ProofAlgorithms {
		if !slices.Contains(algorithms, a) || strings.HasPrefix(a, "HS") {
			return fmt.Errorf("jwt: bound_tokens: proof algorithm %q is not an asymmetric JWS algorithm", a)
		}
	}
	if c.ProofWindow < 0 || time.Duration(c.ProofWindow) > 10*time.Minute {
		return errors.New("jwt: bound_tokens: proof_window must be between 0 and 10m")
	}
	return nil
}

// requestHTU is the htu of r as the client addressed it: https when r came
// over TLS (OverTLS), its Host, and the path before any rewrite. Behind a
// proxy that the server's trusted_proxies trusts, the host is the first of
// X-Forwarded-Host (the one the outermost proxy was addressed by), if any;
// that header from any other client is ignored, as it is the client's word.
// A forwarded host that is not a host makes an htu no proof names.
func requestHTU(r *http.Request) string {
	scheme := "http://"
	if OverTLS(r) {
		scheme = "https://"
	}
	host := r.Host
	if fromTrustedProxy(r) {
		if fwd := r.Header.Get("X-Forwarded-Host"); fwd != "" {
			host, _, _ = strings.Cut(fwd, ",")
			host = strings.TrimSpace(host)
			if host == "" || strings.ContainsAny(host, "/?#@\\ \t") {
				return ""
			}
		}
	}
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	u, _ := NormalizeHTU(scheme + host + path)
	return u
}

// rejections are the method's DPoP rejections, with its challenge.
func (m *JWTMethod) rejections() []*Rejection {
	if m.verifier == nil || m.verifier.Bound == nil {
		return nil
	}
	return []*Rejection{m.verifier.Bound.Invalid, m.verifier.Bound.Replayed}
}
