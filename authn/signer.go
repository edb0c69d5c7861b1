package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Storage is where signing keys live: a subset of certmagic.Storage, so
// Caddy's configured storage fits as is, and every instance sharing it signs
// with the same keys and publishes the same JWKS.
type Storage interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, path string, recursive bool) ([]string, error)
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// SigningPrefix is the storage folder of the gateway's signing keys.
const SigningPrefix = "api_gateway/signing"

// MaxUpstreamTTL bounds the life of tokens minted for upstreams, and so how
// long a replaced signing key must stay published.
const MaxUpstreamTTL = time.Hour

// signingRecord is a signing key as stored.
type signingRecord struct {
	Kid        string    `json:"kid"`
	Alg        string    `json:"alg"`
	PKCS8      []byte    `json:"private_pkcs8"`
	CreatedAt  time.Time `json:"created_at"`
	ActiveFrom time.Time `json:"active_from"`
}

type signingKey struct {
	rec    signingRecord
	priv   crypto.Signer
	method jwt.SigningMethod
	jwk    map[string]any
}

// Signer signs the short-lived tokens the gateway mints for upstreams, with
// keys it keeps in Storage. A new key is created PublishAhead before it is
// first used, so every instance (each syncing at least every SyncInterval)
// and every upstream caching the JWKS knows it in time; a replaced key stays
// published Retain after its successor took over, past the expiry of every
// token it signed.
//
// Set the fields, call Sync once, then Run and use it concurrently.
type Signer struct {
	Storage Storage
	// Alg is EdDSA or ES256.
	Alg string
	// RotateEvery is how long a key signs before its successor takes over.
	RotateEvery time.Duration

	ring    atomic.Pointer[[]*signingKey] // sorted by ActiveFrom, then kid
	jwks    atomic.Pointer[[]byte]
	syncMu  sync.Mutex
	lastErr atomic.Pointer[error]
}

// PublishAhead is how long before first use a key is published.
func (s *Signer) PublishAhead() time.Duration { return min(s.RotateEvery/4, 10*time.Minute) }

// Retain is how long a replaced key stays published.
func (s *Signer) Retain() time.Duration { return MaxUpstreamTTL + s.PublishAhead() }

// SyncInterval is how often Run syncs with the storage.
func (s *Signer) SyncInterval() time.Duration {
	return min(max(s.PublishAhead()/2, 100*time.Millisecond), time.Minute)
}

// CheckSigningAlg accepts the algorithms the gateway signs with.
func CheckSigningAlg(alg string) error {
	if alg != "EdDSA" && alg != "ES256" {
		return fmt.Errorf("signing algorithm %q is not EdDSA or ES256", alg)
	}
	return nil
}

// Run syncs with the storage until ctx is done.
func (s *Signer) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(s.SyncInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(ctx, time.Now()); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// Sync reads the keys from storage, creates the next key when it is due,
// removes keys past their retention, and updates what Sign and JWKS use.
func (s *Signer) Sync(ctx context.Context, now time.Time) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	keys, err := s.load(ctx)
	if err != nil {
		return err
	}
	if s.due(keys, now) || len(s.stale(keys, now)) > 0 {
		if err := s.Storage.Lock(ctx, SigningPrefix); err != nil {
			return fmt.Errorf("locking signing keys: %w", err)
		}
		err = func() error {
			defer s.Storage.Unlock(context.WithoutCancel(ctx), SigningPrefix) //nolint:errcheck
			// Another instance may have acted while we waited for the lock.
			if keys, err = s.load(ctx); err != nil {
				return err
			}
			if s.due(keys, now) {
				k, err := s.generate(keys, now)
				if err != nil {
					return err
				}
				data, _ := json.Marshal(k.rec)
				if err := s.Storage.Store(ctx, path.Join(SigningPrefix, k.rec.Kid+".json"), data); err != nil {
					return fmt.Errorf("storing signing key: %w", err)
				}
				keys = insertKey(keys, k)
			}
			for _, k := range s.stale(keys, now) {
				if err := s.Storage.Delete(ctx, path.Join(SigningPrefix, k.rec.Kid+".json")); err == nil {
					keys = slices.DeleteFunc(keys, func(o *signingKey) bool { return o == k })
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	s.publish(keys)
	return nil
}

func insertKey(keys []*signingKey, k *signingKey) []*signingKey {
	keys = append(keys, k)
	slices.SortFunc(keys, func(a, b *signingKey) int {
		if c := a.rec.ActiveFrom.Compare(b.rec.ActiveFrom); c != 0 {
			return c
		}
		return strings.Compare(a.rec.Kid, b.rec.Kid)
	})
	return keys
}

func (s *Signer) load(ctx context.Context) ([]*signingKey, error) {
	names, err := s.Storage.List(ctx, SigningPrefix, false)
	if err != nil && !isNotExist(err) {
		return nil, fmt.Errorf("listing signing keys: %w", err)
	}
	var keys []*signingKey
	for _, name := range names {
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := s.Storage.Load(ctx, name)
		if err != nil {
			continue // deleted meanwhile
		}
		k, err := parseSigningRecord(data)
		if err != nil {
			continue
		}
		keys = insertKey(keys, k)
	}
	return keys, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func parseSigningRecord(data []byte) (*signingKey, error) {
	var rec signingRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(rec.PKCS8)
	if err != nil {
		return nil, err
	}
	k := &signingKey{rec: rec}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		if rec.Alg != "EdDSA" {
			return nil, errors.New("key does not fit alg")
		}
		k.priv, k.method = p, jwt.SigningMethodEdDSA
		k.jwk = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(p.Public().(ed25519.PublicKey))}
	case *ecdsa.PrivateKey:
		if rec.Alg != "ES256" || p.Curve != elliptic.P256() {
			return nil, errors.New("key does not fit alg")
		}
		b, err := p.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		k.priv, k.method = p, jwt.SigningMethodES256
		k.jwk = map[string]any{"kty": "EC", "crv": "P-256", "x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:])}
	default:
		return nil, errors.New("unsupported signing key")
	}
	k.jwk["kid"], k.jwk["alg"], k.jwk["use"] = rec.Kid, rec.Alg, "sig"
	return k, nil
}

// newest returns the key of our algorithm that becomes (or became) active last.
func (s *Signer) newest(keys []*signingKey) *signingKey {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].rec.Alg == s.Alg {
			return keys[i]
		}
	}
	return nil
}

// due reports whether the next key must be created now.
func (s *Signer) due(keys []*signingKey, now time.Time) bool {
	n := s.newest(keys)
	return n == nil || !now.Before(n.rec.ActiveFrom.Add(s.RotateEvery-s.PublishAhead()))
}

// stale returns the keys whose successor took over more than Retain ago.
func (s *Signer) stale(keys []*signingKey, now time.Time) []*signingKey {
	var out []*signingKey
	for i, k := range keys {
		if i+1 < len(keys) {
			succ := keys[i+1]
			if !now.Before(succ.rec.ActiveFrom.Add(s.Retain())) && s.active(keys, now) != k {
				out = append(out, k)
			}
		}
	}
	return out
}

func (s *Signer) generate(keys []*signingKey, now time.Time) (*signingKey, error) {
	var priv crypto.Signer
	var err error
	switch s.Alg {
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, CheckSigningAlg(s.Alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	activeFrom := now
	if n := s.newest(keys); n != nil {
		// Publish ahead of first use; the first key ever has no one to warn.
		activeFrom = maxTime(n.rec.ActiveFrom.Add(s.RotateEvery), now.Add(s.PublishAhead()))
	}
	rec := signingRecord{Kid: hex.EncodeToString(id[:]), Alg: s.Alg, PKCS8: der, CreatedAt: now.UTC(), ActiveFrom: activeFrom.UTC()}
	data, _ := json.Marshal(rec)
	return parseSigningRecord(data)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// active returns the key that signs at now: the last of our algorithm whose
// ActiveFrom has come.
func (s *Signer) active(keys []*signingKey, now time.Time) *signingKey {
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if k.rec.Alg == s.Alg && !now.Before(k.rec.ActiveFrom) {
			return k
		}
	}
	// Only keys of our algorithm not yet active (clock skew between
	// instances): the earliest of them rather than none.
	for _, k := range keys {
		if k.rec.Alg == s.Alg {
			return k
		}
	}
	return nil
}

func (s *Signer) publish(keys []*signingKey) {
	jwks := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		jwks = append(jwks, k.jwk)
	}
	doc, _ := json.Marshal(map[string]any{"keys": jwks})
	s.ring.Store(&keys)
	s.jwks.Store(&doc)
}

// JWKS returns the published public keys as a JWKS document.
func (s *Signer) JWKS() []byte {
	if p := s.jwks.Load(); p != nil {
		return *p
	}
	return []byte(`{"keys":[]}`)
}

// ActiveKid returns the id of the key that signs at now, or "".
func (s *Signer) ActiveKid(now time.Time) string {
	if p := s.ring.Load(); p != nil {
		if k := s.active(*p, now); k != nil {
			return k.rec.Kid
		}
	}
	return ""
}

// Sign signs claims with the key active at now and returns the token and the
// key's id.
func (s *Signer) Sign(claims jwt.MapClaims, now time.Time) (string, string, error) {
	p := s.ring.Load()
	if p == nil {
		return "", "", errors.New("no signing key")
	}
	k := s.active(*p, now)
	if k == nil {
		return "", "", errors.New("no signing key")
	}
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.rec.Kid
	signed, err := tok.SignedString(k.priv)
	return signed, k.rec.Kid, err
}
