package authn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// UpstreamMinter mints the short-lived token an upstream receives for an
// authenticated caller: a JWT signed by the gateway (Signer) naming the
// consumer (sub), its scopes (scope), the upstream (aud), how the caller
// authenticated (auth_method) and, for API keys, the key id (key_id).
//
// A token is reused for the same caller until half its life has passed or the
// signing key changes, so signing costs little under load. Safe for concurrent
// use once its fields are set.
type UpstreamMinter struct {
	Signer   *Signer
	Issuer   string
	Audience string
	TTL      time.Duration

	mu    sync.RWMutex
	cache map[string]mintedToken
}

type mintedToken struct {
	token, kid string
	renewAt    time.Time
}

// maxMinted bounds the minted-token cache; when full it starts over.
const maxMinted = 10000

// Mint returns the upstream token for id at now.
func (m *UpstreamMinter) Mint(id *Identity, now time.Time) (string, error) {
	if id == nil {
		return "", errors.New("no identity")
	}
	key := id.Consumer + "\x00" + id.ScopeString + "\x00" + id.Method + "\x00" + id.KeyID
	kid := m.Signer.ActiveKid(now)
	m.mu.RLock()
	e, ok := m.cache[key]
	m.mu.RUnlock()
	if ok && e.kid == kid && now.Before(e.renewAt) {
		return e.token, nil
	}
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"iss":         m.Issuer,
		"sub":         id.Consumer,
		"aud":         m.Audience,
		"iat":         now.Unix(),
		"nbf":         now.Unix(),
		"exp":         now.Add(m.TTL).Unix(),
		"jti":         hex.EncodeToString(jti[:]),
		"scope":       id.ScopeString,
		"auth_method": id.Method,
	}
	if id.KeyID != "" {
		claims["key_id"] = id.KeyID
	}
	tok, usedKid, err := m.Signer.Sign(claims, now)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	if m.cache == nil || len(m.cache) >= maxMinted {
		m.cache = make(map[string]mintedToken)
	}
	m.cache[key] = mintedToken{token: tok, kid: usedKid, renewAt: now.Add(m.TTL / 2)}
	m.mu.Unlock()
	return tok, nil
}
