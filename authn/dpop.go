package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DPoP proofs (RFC 9449): a JWS the client signs for each request with the
// key its access token is bound to (cnf.jkt). The logic here does not
// depend on Caddy; time and the request are passed in.

// MaxProofLen bounds a DPoP proof.
const MaxProofLen = 8 << 10

// maxJTILen bounds a proof's jti.
const maxJTILen = 256

// ErrProof is the error of a DPoP proof that is not acceptable, whatever
// the reason (RFC 9449 gives the client one error code for all of them).
var ErrProof = errors.New("invalid DPoP proof")

// ErrProofReplayed is the error of a proof whose jti was seen before.
var ErrProofReplayed = errors.New("DPoP proof replayed")

// Proof is a DPoP proof whose signature verified with the key in its header.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof's key (base64url SHA-256).
	JKT string
	JTI string
	HTM string
	HTU string
	// ATH is the base64url SHA-256 of the access token, when the proof
	// names one.
	ATH string
	IAT time.Time
}

// privateJWKMembers are the members that make a JWK private (or symmetric):
// a proof carrying one is refused.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseProof verifies proof's signature with the public key of its own jwk
// header and returns its claims. typ must be dpop+jwt and alg one of algs
// (which must hold asymmetric algorithms only). It checks neither the
// request nor the time: see DPoP.Check.
func ParseProof(proof string, algs []string) (*Proof, error) {
	if proof == "" || len(proof) > MaxProofLen || !LooksLikeJWS(proof) {
		return nil, ErrProof
	}
	p := &Proof{}
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(proof, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "dpop+jwt" {
			return nil, ErrProof
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrProof
		}
		raw, ok := t.Header["jwk"].(map[string]any)
		if !ok {
			return nil, ErrProof
		}
		key, jkt, err := proofKey(raw, t.Method.Alg())
		p.JKT = jkt
		return key, err
	})
	if err != nil {
		return nil, ErrProof
	}
	var ok [4]bool
	p.JTI, ok[0] = claims["jti"].(string)
	p.HTM, ok[1] = claims["htm"].(string)
	p.HTU, ok[2] = claims["htu"].(string)
	iat, isNum := claims["iat"].(json.Number)
	if ath, present := claims["ath"]; present {
		p.ATH, ok[3] = ath.(string)
	} else {
		ok[3] = true
	}
	if !ok[0] || !ok[1] || !ok[2] || !ok[3] || !isNum || p.JTI == "" || len(p.JTI) > maxJTILen {
		return nil, ErrProof
	}
	secs, err := iat.Float64()
	if err != nil || secs < 0 || secs > 1<<40 {
		return nil, ErrProof
	}
	p.IAT = time.Unix(int64(secs), 0)
	return p, nil
}

// proofKey returns the public key of a proof's jwk header, which must fit
// alg, and its RFC 7638 thumbprint.
func proofKey(raw map[string]any, alg string) (any, string, error) {
	for _, m := range privateJWKMembers {
		if _, ok := raw[m]; ok {
			return nil, "", ErrProof
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, "", ErrProof
	}
	var k jwk
	if json.Unmarshal(b, &k) != nil {
		return nil, "", ErrProof
	}
	vk, err := k.verifyKey()
	if err != nil || vk == nil || !vk.Allows(alg) {
		return nil, "", ErrProof
	}
	return vk.Key, k.thumbprint(), nil
}

// thumbprint is the RFC 7638 thumbprint of a public key: the base64url
// SHA-256 of its required members, in lexical order, without spaces.
func (k *jwk) thumbprint() string {
	var v any
	switch k.Kty {
	case "EC":
		v = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{k.Crv, k.Kty, k.X, k.Y}
	case "RSA":
		v = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{k.E, k.Kty, k.N}
	default: // OKP
		v = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{k.Crv, k.Kty, k.X}
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TokenHash is the ath of an access token: its base64url SHA-256.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NormalizeHTU returns an htu in the form compared (RFC 9449 section 4.3):
// lowercase http or https scheme and host, no default port, the path as
// sent ("/" when empty), no query, no fragment. ok is false when s is not an
// absolute http(s) URL.
func NormalizeHTU(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	default:
		return "", false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// JTICache remembers the jti of proofs until they could no longer be
// accepted, so each is used once.
type JTICache interface {
	// FirstUse records key until until and reports whether it was not
	// recorded already. An error means it is not known (the proof is
	// refused).
	FirstUse(ctx context.Context, key string, until, now time.Time) (bool, error)
}

// DPoP checks DPoP proofs. Set the fields, then call Check concurrently.
type DPoP struct {
	// Algorithms are the accepted proof algorithms (asymmetric only).
	Algorithms []string
	// Window is how old a proof's iat may be; Leeway is the clock skew
	// allowed on either side.
	Window, Leeway time.Duration
	// Seen remembers the proofs used.
	Seen JTICache
}

// ProofRequest is what a proof must be for: the request's method and URL
// (NormalizeHTU form), the access token sent with it, and the thumbprint the
// token is bound to.
type ProofRequest struct {
	Method, URL, Token, JKT string
}

// Check verifies proof for req at now, and records its jti.
func (d *DPoP) Check(ctx context.Context, proof string, req ProofRequest, now time.Time) error {
	p, err := ParseProof(proof, d.Algorithms)
	if err != nil {
		return err
	}
	htu, ok := NormalizeHTU(p.HTU)
	switch {
	case !ok || htu != req.URL, p.HTM != req.Method, p.JKT != req.JKT, p.ATH != TokenHash(req.Token):
		return ErrProof
	case p.IAT.Before(now.Add(-d.Window - d.Leeway)), p.IAT.After(now.Add(d.Leeway)):
		return ErrProof
	}
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	first, err := d.Seen.FirstUse(ctx, hex.EncodeToString(sum[:]), p.IAT.Add(d.Window+2*d.Leeway+time.Second), now)
	if err != nil {
		return ErrProof
	}
	if !first {
		return ErrProofReplayed
	}
	return nil
}
