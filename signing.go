package apigate

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

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

// provision fills the defaults.
func (c *SigningConfig) provision() {
	if c.Algorithm == "" {
		c.Algorithm = "EdDSA"
	}
	if c.RotateEvery == 0 {
		c.RotateEvery = caddy.Duration(DefaultRotateEvery)
	}
}

func (c *SigningConfig) validate() error {
	if err := authn.CheckSigningAlg(c.Algorithm); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	if err := authn.CheckRotateEvery(time.Duration(c.RotateEvery)); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	return nil
}

// Signer returns the gateway's signer, creating it (and its first key, when
// the storage has none) on first use.
func (a *App) Signer() (*authn.Signer, error) {
	storage := a.ctx.Storage()
	s, err := a.signer.Take(storage, storageName(storage), a.Signing.Algorithm, time.Duration(a.Signing.RotateEvery), a.logger)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return s, nil
}
