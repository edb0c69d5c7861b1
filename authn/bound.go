package authn

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Binding is what a token is bound to (its cnf claim, RFC 7800): the
// thumbprint of a client certificate (x5t#S256, RFC 8705) or of a DPoP key
// (jkt, RFC 9449). The zero Binding is an unbound (bearer) token.
type Binding struct {
	X5T string
	JKT string
	// Other is set when cnf names a confirmation method the gateway does
	// not check: such a token is refused when bindings are checked.
	Other bool
}

// bindingOf reads the cnf claim of a verified token.
func bindingOf(claims map[string]any) Binding {
	raw, ok := claims["cnf"]
	if !ok {
		return Binding{}
	}
	cnf, ok := raw.(map[string]any)
	if !ok {
		return Binding{Other: true}
	}
	var b Binding
	x5t, hasX5T := cnf["x5t#S256"]
	jkt, hasJKT := cnf["jkt"]
	b.X5T, _ = x5t.(string)
	b.JKT, _ = jkt.(string)
	if hasX5T == hasJKT || (hasX5T && b.X5T == "") || (hasJKT && b.JKT == "") {
		// Both (which key to ask for?), neither, or not strings.
		b.Other = true
	}
	return b
}

// Rejections of bound tokens. ErrDPoP is answered with a DPoP challenge.
var (
	ErrCertBinding  = &Rejection{Status: 401, Code: "invalid_token", Reason: "token bound to another client certificate", Label: "cert_binding"}
	ErrUnbound      = &Rejection{Status: 401, Code: "invalid_token", Reason: "token not bound to a key (bound_tokens required)", Label: "unbound"}
	ErrDPoP         = &Rejection{Status: 401, Code: "invalid_dpop_proof", Reason: "invalid DPoP proof", Label: "invalid_dpop_proof"}
	ErrDPoPReplayed = &Rejection{Status: 401, Code: "invalid_dpop_proof", Reason: "DPoP proof replayed", Label: "dpop_replayed"}
)

// BoundTokens checks that a token is used by whoever it was issued to: a
// token with cnf.x5t#S256 only on a TLS connection with that client
// certificate, a token with cnf.jkt only as `Authorization: DPoP <token>`
// with a valid DPoP proof, and (Required) no unbound token.
type BoundTokens struct {
	Required bool
	DPoP     *DPoP
	// RequestURL returns the htu of r (NormalizeHTU form).
	RequestURL func(r *http.Request) string
	// Invalid and Replayed are the rejections of a bad and of a replayed
	// proof (ErrDPoP and ErrDPoPReplayed when nil); a method makes its own
	// to carry its challenge.
	Invalid, Replayed *Rejection
}

func (b *BoundTokens) invalid() *Rejection {
	if b.Invalid != nil {
		return b.Invalid
	}
	return ErrDPoP
}

// authenticate takes a token from `Authorization: Bearer` or `DPoP`,
// verifies it with v and checks its binding.
func (b *BoundTokens) authenticate(v *JWT, r *http.Request, now time.Time) (*Identity, error) {
	// The proofs are taken off first: whatever the outcome, none goes on.
	proofs := r.Header.Values("Dpop")
	r.Header.Del("Dpop")
	scheme, token, err := takeBoundToken(r)
	if err != nil {
		return nil, err
	}
	id, bind, err := v.VerifyBound(r.Context(), token, now)
	if err != nil {
		return nil, err
	}
	switch {
	case bind.Other:
		return nil, ErrInvalidToken
	case bind.JKT != "":
		if scheme != "dpop" || len(proofs) != 1 {
			return nil, b.invalid()
		}
		req := ProofRequest{Method: r.Method, URL: b.RequestURL(r), Token: token, JKT: bind.JKT}
		if err := b.DPoP.Check(r.Context(), proofs[0], req, now); err != nil {
			if errors.Is(err, ErrProofReplayed) && b.Replayed != nil {
				return nil, b.Replayed
			} else if errors.Is(err, ErrProofReplayed) {
				return nil, ErrDPoPReplayed
			}
			return nil, b.invalid()
		}
	case scheme == "dpop":
		// The DPoP scheme with a token bound to no DPoP key.
		return nil, b.invalid()
	case bind.X5T != "":
		if CertThumbprint(r) != bind.X5T {
			return nil, ErrCertBinding
		}
	case b.Required:
		return nil, ErrUnbound
	}
	return id, nil
}

// CertThumbprint is the x5t#S256 of the client certificate of r's TLS
// connection (base64url SHA-256 of its DER), or "" without one.
func CertThumbprint(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// takeBoundToken is takeBearer for the schemes Bearer and DPoP: it returns
// the scheme (lowercase) and a JWS-shaped token.
func takeBoundToken(r *http.Request) (string, string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", "", ErrNoCredential
	}
	scheme, token := "bearer", ""
	t, ok := bearer(vals[0])
	if !ok {
		scheme = "dpop"
		t, ok = dpopToken(vals[0])
	}
	if !ok || !LooksLikeJWS(t) {
		return "", "", ErrNoCredential
	}
	token = t
	r.Header.Del("Authorization")
	if len(vals) > 1 {
		return "", "", ErrMalformed
	}
	return scheme, token, nil
}

// dpopToken returns the token of an `Authorization: DPoP <token>` value.
func dpopToken(v string) (string, bool) {
	const scheme = "dpop "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}
