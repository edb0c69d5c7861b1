package apigate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
)

// SigningConfig sets the keys the gateway signs the tokens it mints for
// upstreams (api_auth's upstream_token) with. The keys live in Caddy's
// storage, so every instance sharing it and every restart use the same ones;
// api_jwks publishes their public halves.
type SigningConfig struct {
	// Algorithm is EdDSA (Ed25519) or ES256 (ECDSA P-256). Default: EdDSA.
	Algorithm string `json:"algorithm,omitempty"`

	// RotateEvery is how long a signing key is used before the next one takes
	// over. The next key is published ahead of its first use (a quarter of
	// this, at most 10 minutes), and a replaced key stays published until every
	// token it signed has expired. Default: 720h (30 days).
	RotateEvery caddy.Duration `json:"rotate_every,omitempty"`
}

// DefaultRotateEvery is the signing key rotation period when none is configured.
const DefaultRotateEvery = 720 * time.Hour

// signingState is the app's signer, created on first use.
type signingState struct {
	mu     sync.Mutex
	signer *authn.Signer
	name   string
}

// signers keeps each signer (and its sync loop) across config reloads.
var signers = caddy.NewUsagePool()

type pooledSigner struct {
	*authn.Signer
	cancel context.CancelFunc
}

func (p pooledSigner) Destruct() error { p.cancel(); return nil }

func (a *App) signingConfig() SigningConfig {
	c := SigningConfig{Algorithm: "EdDSA", RotateEvery: caddy.Duration(DefaultRotateEvery)}
	if a.Signing != nil {
		if a.Signing.Algorithm != "" {
			c.Algorithm = a.Signing.Algorithm
		}
		if a.Signing.RotateEvery != 0 {
			c.RotateEvery = a.Signing.RotateEvery
		}
	}
	return c
}

func (a *App) validateSigning() error {
	c := a.signingConfig()
	if err := authn.CheckSigningAlg(c.Algorithm); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	if time.Duration(c.RotateEvery) < time.Second {
		return errors.New("signing: rotate_every must be at least 1s")
	}
	return nil
}

// Signer returns the gateway's signer, creating it (and its first key, when
// the storage has none) on first use.
func (a *App) Signer() (*authn.Signer, error) {
	if a.signing == nil {
		// Handlers are provisioned one after another: no race here.
		a.signing = new(signingState)
	}
	a.signing.mu.Lock()
	defer a.signing.mu.Unlock()
	if a.signing.signer != nil {
		return a.signing.signer, nil
	}
	c := a.signingConfig()
	storage := a.ctx.Storage()
	name := fmt.Sprintf("signer:%s:%s:%d", storageName(storage), c.Algorithm, c.RotateEvery)
	logger := a.logger
	val, _, err := signers.LoadOrNew(name, func() (caddy.Destructor, error) {
		s := &authn.Signer{Storage: storage, Alg: c.Algorithm, RotateEvery: time.Duration(c.RotateEvery)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Sync(ctx, time.Now()); err != nil {
			return nil, err
		}
		runCtx, stop := context.WithCancel(context.Background())
		go s.Run(runCtx, func(err error) {
			logger.Error("syncing signing keys with storage failed", zap.Error(err))
		})
		return pooledSigner{Signer: s, cancel: stop}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	a.signing.signer, a.signing.name = val.(pooledSigner).Signer, name
	return a.signing.signer, nil
}

func (a *App) cleanupSigning() error {
	if a.signing == nil {
		return nil
	}
	a.signing.mu.Lock()
	defer a.signing.mu.Unlock()
	if a.signing.signer == nil {
		return nil
	}
	_, err := signers.Delete(a.signing.name)
	a.signing.signer = nil
	return err
}
