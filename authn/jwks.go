package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// VerifyKey is one public key (or HMAC secret) that may verify tokens, with the
// algorithms it may be used with. The algorithms come from the key itself (its
// type, curve and, in a JWKS, its "alg"), never from a token's header.
type VerifyKey struct {
	// ID is the key id ("kid"); empty for a key from a PEM file or a secret.
	ID string
	// Key is *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC).
	Key any
	// Algs are the JWS algorithms this key verifies.
	Algs []string
}

// Allows reports whether the key may verify a token signed with alg.
func (k *VerifyKey) Allows(alg string) bool { return slices.Contains(k.Algs, alg) }

// KeySet is an immutable set of verification keys.
type KeySet struct {
	byID  map[string]*VerifyKey
	all   []*VerifyKey
	Count int
}

// NewKeySet builds a key set; keys with an empty ID are found only by tokens
// that name no kid.
func NewKeySet(keys []*VerifyKey) *KeySet {
	s := &KeySet{byID: make(map[string]*VerifyKey, len(keys)), all: keys, Count: len(keys)}
	for _, k := range keys {
		if k.ID != "" {
			s.byID[k.ID] = k
		}
	}
	return s
}

// Lookup returns the keys that may verify a token with this kid and alg: the
// key of that id, or with no kid every key allowing alg.
func (s *KeySet) Lookup(kid, alg string) []*VerifyKey {
	if s == nil {
		return nil
	}
	if kid != "" {
		if k, ok := s.byID[kid]; ok && k.Allows(alg) {
			return []*VerifyKey{k}
		}
		return nil
	}
	var out []*VerifyKey
	for _, k := range s.all {
		if k.Allows(alg) {
			out = append(out, k)
		}
	}
	return out
}

// Has reports whether the set has a key with this id.
func (s *KeySet) Has(kid string) bool {
	if s == nil {
		return false
	}
	_, ok := s.byID[kid]
	return ok
}

// Limits of a JWKS document, so a hostile or broken one cannot exhaust memory.
const (
	MaxJWKSBytes = 1 << 20
	MaxJWKSKeys  = 100
)

type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	// KeyOps, when present, must include "verify".
	KeyOps []string `json:"key_ops"`
}

// ParseJWKS parses a JWKS document (RFC 7517) into verification keys. Keys that
// are not for signatures, of an unsupported type, or symmetric ("oct": a JWKS
// is public, an HMAC secret in it would let anyone sign) are skipped; the
// document is an error only when it is not a JWKS at all or has too many keys.
func ParseJWKS(data []byte) ([]*VerifyKey, error) {
	if len(data) > MaxJWKSBytes {
		return nil, errors.New("jwks: document too large")
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`jwks: no "keys" member`)
	}
	if len(doc.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("jwks: more than %d keys", MaxJWKSKeys)
	}
	var out []*VerifyKey
	seen := map[string]bool{}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		vk, err := k.verifyKey()
		if err != nil || vk == nil {
			continue
		}
		if vk.ID != "" {
			if seen[vk.ID] {
				// Two keys with one id: which one a token means is ambiguous, so neither.
				out = slices.DeleteFunc(out, func(o *VerifyKey) bool { return o.ID == vk.ID })
				continue
			}
			seen[vk.ID] = true
		}
		out = append(out, vk)
	}
	return out, nil
}

func (k *jwk) verifyKey() (*VerifyKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, nil
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return nil, nil
	}
	if len(k.Kid) > MaxKidLen {
		return nil, errors.New("kid too long")
	}
	var (
		key  any
		algs []string
		err  error
	)
	switch k.Kty {
	case "RSA":
		key, algs, err = k.rsaKey()
	case "EC":
		key, algs, err = k.ecKey()
	case "OKP":
		key, algs, err = k.okpKey()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if k.Alg != "" {
		// The key names its algorithm: only that one.
		if !slices.Contains(algs, k.Alg) {
			return nil, errors.New("alg does not fit the key")
		}
		algs = []string{k.Alg}
	}
	return &VerifyKey{ID: k.Kid, Key: key, Algs: algs}, nil
}

func (k *jwk) rsaKey() (any, []string, error) {
	n, err := b64int(k.N)
	if err != nil {
		return nil, nil, err
	}
	e, err := b64int(k.E)
	if err != nil {
		return nil, nil, err
	}
	if n.BitLen() < 2048 || n.BitLen() > 8192 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Int64()%2 == 0 {
		return nil, nil, errors.New("weak or invalid RSA key")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
}

func (k *jwk) ecKey() (any, []string, error) {
	var curve elliptic.Curve
	var alg string
	switch k.Crv {
	case "P-256":
		curve, alg = elliptic.P256(), "ES256"
	case "P-384":
		curve, alg = elliptic.P384(), "ES384"
	case "P-521":
		curve, alg = elliptic.P521(), "ES512"
	default:
		return nil, nil, errors.New("unsupported curve")
	}
	pub, err := ecPublic(curve, k.X, k.Y)
	if err != nil {
		return nil, nil, err
	}
	return pub, []string{alg}, nil
}

func (k *jwk) okpKey() (any, []string, error) {
	if k.Crv != "Ed25519" {
		return nil, nil, errors.New("unsupported curve")
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, nil, errors.New("invalid Ed25519 key")
	}
	return ed25519.PublicKey(x), []string{"EdDSA"}, nil
}

func ecPublic(curve elliptic.Curve, xs, ys string) (*ecdsa.PublicKey, error) {
	x, err := base64.RawURLEncoding.DecodeString(xs)
	if err != nil {
		return nil, err
	}
	y, err := base64.RawURLEncoding.DecodeString(ys)
	if err != nil {
		return nil, err
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(x) != size || len(y) != size {
		return nil, errors.New("invalid EC coordinates")
	}
	// Uncompressed point encoding, checked to be on the curve by ParseUncompressedPublicKey.
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, err
	}
	return pub, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("invalid base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

// MaxKidLen bounds the key ids the gateway looks up or stores.
const MaxKidLen = 256

// ParsePublicKeyPEM parses a PEM file holding one public key (PKIX "PUBLIC
// KEY", PKCS#1 "RSA PUBLIC KEY", or a certificate) into a verification key.
func ParsePublicKeyPEM(data []byte) (*VerifyKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key (a private key does not belong on a gateway that only verifies)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	return PublicVerifyKey(pub)
}

// PublicVerifyKey wraps a public key with the algorithms its type allows.
func PublicVerifyKey(pub crypto.PublicKey) (*VerifyKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 || p.N.BitLen() > 8192 {
			return nil, errors.New("RSA keys shorter than 2048 or longer than 8192 bits are refused")
		}
		return &VerifyKey{Key: p, Algs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}}, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return &VerifyKey{Key: p, Algs: []string{"ES256"}}, nil
		case elliptic.P384():
			return &VerifyKey{Key: p, Algs: []string{"ES384"}}, nil
		case elliptic.P521():
			return &VerifyKey{Key: p, Algs: []string{"ES512"}}, nil
		}
	case ed25519.PublicKey:
		return &VerifyKey{Key: p, Algs: []string{"EdDSA"}}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", pub)
}

// HMACVerifyKey wraps an HMAC secret; it verifies HS256, HS384 and HS512.
func HMACVerifyKey(secret []byte) *VerifyKey {
	return &VerifyKey{Key: secret, Algs: []string{"HS256", "HS384", "HS512"}}
}
