package authn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
)

// The untrusted input of api_key_leak: a report of leaked keys, GitHub's
// signature over it and GitHub's list of signing keys. None of it depends on
// Caddy.

// MaxLeakTokens is the most keys one report may name.
const MaxLeakTokens = 1000

// maxLeakToken bounds one reported token: far longer than any key, so a
// token over it cannot be one.
const maxLeakToken = 1024

// LeakedToken is one entry of a leak report: the token, and for GitHub's
// reports its type, URL and source (passed back, never used).
type LeakedToken struct {
	Token  string `json:"token"`
	Type   string `json:"type,omitempty"`
	URL    string `json:"url,omitempty"`
	Source string `json:"source,omitempty"`
}

// ErrLeakReport is the error of a report that is not one.
var ErrLeakReport = errors.New("a leak report is a JSON array of {\"token\": ...} objects")

// ParseLeakReport parses a leak report: a JSON array of objects, each with a
// non-empty string "token" (GitHub's reports add "type", "url" and
// "source"), at most MaxLeakTokens of them. Anything else, trailing data
// included, is ErrLeakReport.
func ParseLeakReport(body []byte) ([]LeakedToken, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []LeakedToken
	if err := dec.Decode(&out); err != nil || len(out) == 0 || len(out) > MaxLeakTokens {
		return nil, ErrLeakReport
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, ErrLeakReport
	}
	for _, t := range out {
		if t.Token == "" || len(t.Token) > maxLeakToken {
			return nil, ErrLeakReport
		}
	}
	return out, nil
}

// ErrSignature is the error of a report whose signature does not verify.
var ErrSignature = errors.New("the signature does not verify")

// VerifyGitHubSignature checks sig, GitHub's Github-Public-Key-Signature
// header (base64 of an ASN.1 ECDSA signature), over body with key.
func VerifyGitHubSignature(key *ecdsa.PublicKey, body []byte, sig string) error {
	if key == nil || sig == "" || len(sig) > 512 {
		return ErrSignature
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], der) {
		return ErrSignature
	}
	return nil
}

// ParseGitHubKeys parses GitHub's list of secret scanning signing keys:
// {"public_keys":[{"key_identifier","key" (PEM),"is_current"}]}. Keys that
// are not ECDSA P-256 are skipped; the list is an error only when it is not
// one, or names no usable key.
func ParseGitHubKeys(data []byte) (map[string]*ecdsa.PublicKey, error) {
	if len(data) > MaxJWKSBytes {
		return nil, errors.New("github keys: document too large")
	}
	var doc struct {
		PublicKeys []struct {
			ID  string `json:"key_identifier"`
			Key string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("github keys: %w", err)
	}
	if len(doc.PublicKeys) > MaxJWKSKeys {
		return nil, fmt.Errorf("github keys: more than %d keys", MaxJWKSKeys)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, k := range doc.PublicKeys {
		if pub, err := ParseGitHubKey(k.Key); err == nil && k.ID != "" && len(k.ID) <= MaxKidLen {
			keys[k.ID] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("github keys: no ECDSA P-256 key in the list")
	}
	return keys, nil
}

// ParseGitHubKey parses one PEM "PUBLIC KEY" that must be ECDSA P-256.
func ParseGitHubKey(pemText string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return ec, nil
}
