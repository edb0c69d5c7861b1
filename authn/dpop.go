package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
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
//
// The proof is decoded here rather than by golang-jwt so that its header
// keeps its bytes: what they say (alg, key, thumbprint) is cached
// (proofHeaders), since a client sends the same header with every proof.
// The signature and the claims are verified on every call.
func ParseProof(proof string, algs []string) (*Proof, error) {
	if proof == "" || len(proof) > MaxProofLen || !LooksLikeJWS(proof) {
		return nil, ErrProof
	}
	dot1 := strings.IndexByte(proof, '.')
	dot2 := dot1 + 1 + strings.IndexByte(proof[dot1+1:], '.')
	h, err := proofHeaders.get(proof[:dot1])
	if err != nil || !slices.Contains(algs, h.alg) {
		return nil, ErrProof
	}
	sig, err := base64.RawURLEncoding.DecodeString(proof[dot2+1:])
	if err != nil || h.method.Verify(proof[:dot2], sig, h.key.Key) != nil {
		return nil, ErrProof
	}
	return decodeProofClaims(proof[dot1+1:dot2], h.jkt)
}

// parseProofHeader reads the header segment of a proof: typ dpop+jwt, no
// crit, an alg of golang-jwt that fits the key of its jwk member.
func parseProofHeader(segment string) (*proofHeader, error) {
	var header map[string]json.RawMessage
	if decodeSegment(segment, &header) != nil {
		return nil, ErrProof
	}
	h := &proofHeader{segment: segment}
	var typ string
	if json.Unmarshal(header["typ"], &typ) != nil || typ != "dpop+jwt" || json.Unmarshal(header["alg"], &h.alg) != nil {
		return nil, ErrProof
	}
	if _, ok := header["crit"]; ok {
		return nil, ErrProof
	}
	var err error
	h.key, h.jkt, err = proofKey(header["jwk"])
	h.method = jwt.GetSigningMethod(h.alg)
	if err != nil || h.method == nil || !h.key.Allows(h.alg) {
		return nil, ErrProof
	}
	return h, nil
}

// proofBody is the claims of a proof. (encoding/json matches member names
// regardless of case, which costs nothing here: the claims are those the
// key's holder signed.)
type proofBody struct {
	JTI string   `json:"jti"`
	HTM string   `json:"htm"`
	HTU string   `json:"htu"`
	ATH *string  `json:"ath"`
	IAT *float64 `json:"iat"`
}

// decodeProofClaims decodes the claims of a verified proof: jti, htm, htu
// and a numeric iat are required, ath is optional.
func decodeProofClaims(segment, jkt string) (*Proof, error) {
	var buf [1024]byte
	b, err := base64.RawURLEncoding.AppendDecode(buf[:0], []byte(segment))
	var c proofBody
	if err != nil || json.Unmarshal(b, &c) != nil || c.IAT == nil || c.HTM == "" || c.HTU == "" ||
		c.JTI == "" || len(c.JTI) > maxJTILen || *c.IAT < 0 || *c.IAT > 1<<40 {
		return nil, ErrProof
	}
	p := &Proof{JKT: jkt, JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, IAT: time.Unix(int64(*c.IAT), 0)}
	if c.ATH != nil {
		p.ATH = *c.ATH
	}
	return p, nil
}

// decodeSegment decodes a base64url JSON object of a JWS (not null).
func decodeSegment(seg string, v *map[string]json.RawMessage) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if *v == nil {
		return ErrProof
	}
	return nil
}

// proofKey returns the public key of a proof's jwk header (a JSON object
// with no private member) and its RFC 7638 thumbprint.
func proofKey(raw json.RawMessage) (*VerifyKey, string, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, "", ErrProof
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil || members == nil {
		return nil, "", ErrProof
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return nil, "", ErrProof
		}
	}
	var k jwk
	if json.Unmarshal(raw, &k) != nil {
		return nil, "", ErrProof
	}
	vk, err := k.verifyKey()
	if err != nil || vk == nil {
		return nil, "", ErrProof
	}
	return vk, k.thumbprint(), nil
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

// sameHTU reports whether a proof's htu names url (NormalizeHTU form). The
// htu of most clients is in that form already, which spares parsing it.
func sameHTU(htu, url string) bool {
	if htu == url {
		return true
	}
	n, ok := NormalizeHTU(htu)
	return ok && n == url
}

// tokenHashIs reports whether ath is TokenHash(token), without allocating.
func tokenHashIs(token, ath string) bool {
	sum := sha256.Sum256([]byte(token))
	var buf [43]byte
	want := base64.RawURLEncoding.AppendEncode(buf[:0], sum[:])
	return subtle.ConstantTimeCompare(want, []byte(ath)) == 1
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
	switch {
	case !sameHTU(p.HTU, req.URL), p.HTM != req.Method, p.JKT != req.JKT, !tokenHashIs(req.Token, p.ATH):
		return ErrProof
	case p.IAT.Before(now.Add(-d.Window - d.Leeway)), p.IAT.After(now.Add(d.Leeway)):
		return ErrProof
	}
	// The proof's key and jti, hashed in a buffer of the stack.
	var buf [64 + maxJTILen]byte
	sum := sha256.Sum256(append(append(append(buf[:0], p.JKT...), 0), p.JTI...))
	first, err := d.Seen.FirstUse(ctx, hex.EncodeToString(sum[:]), p.IAT.Add(d.Window+2*d.Leeway+time.Second), now)
	if err != nil {
		return ErrProof
	}
	if !first {
		return ErrProofReplayed
	}
	return nil
}
