package upstream

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// privateKeyJWT is private_key_jwt client authentication (OpenID Connect
// Core 9, RFC 7523 2.2): a short-lived JWT signed with the gateway's key,
// issued and subjected by the client id, for the token endpoint's URL or
// the configured assertion_audience.
type privateKeyJWT struct {
	id       string
	audience string
	keyID    string
	method   jwt.SigningMethod
	key      crypto.Signer
}

// assertionTTL is how long a client assertion is valid: long enough for a
// clock skew of the provider, short enough not to be worth stealing.
const assertionTTL = time.Minute

func (a *privateKeyJWT) apply(_ *http.Request, form url.Values, now time.Time) error {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return err
	}
	claims := jwt.RegisteredClaims{
		Issuer:    a.id,
		Subject:   a.id,
		Audience:  jwt.ClaimStrings{a.audience},
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionTTL)),
	}
	t := jwt.NewWithClaims(a.method, claims)
	if a.keyID != "" {
		t.Header["kid"] = a.keyID
	}
	signed, err := t.SignedString(a.key)
	if err != nil {
		return err
	}
	form.Set("client_id", a.id)
	form.Set("client_assertion_type", assertionTypeJWTBearer)
	form.Set("client_assertion", signed)
	return nil
}

// loadSigningKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1 EC)
// and returns it with the algorithm it signs with: RS256 for RSA, ES256,
// ES384 or ES512 for the NIST curves, EdDSA for Ed25519.
func loadSigningKey(file string) (crypto.Signer, jwt.SigningMethod, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("reading key_file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("key_file %s holds no PEM block", file)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("key_file %s: not a private key (PKCS #8, PKCS #1 or SEC 1 PEM)", file)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, nil, fmt.Errorf("key_file %s: an RSA key needs at least 2048 bits", file)
		}
		return k, jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return k, jwt.SigningMethodES256, nil
		case elliptic.P384():
			return k, jwt.SigningMethodES384, nil
		case elliptic.P521():
			return k, jwt.SigningMethodES512, nil
		}
	case ed25519.PrivateKey:
		return k, jwt.SigningMethodEdDSA, nil
	}
	return nil, nil, fmt.Errorf("key_file %s: unsupported key type %T (want RSA, ECDSA P-256/384/521 or Ed25519)", file, key)
}
