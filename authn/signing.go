package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// signers keeps each signer (and its sync loop) across config reloads, by the
// storage its keys live in, its algorithm and its rotation period.
var signers = caddy.NewUsagePool()

// pooledSigner is a signer shared by the configs that sign alike. Its sync
// loop runs until the last of them releases it and logs through the logger of
// the config that took it last.
type pooledSigner struct {
	*Signer
	logger atomic.Pointer[zap.Logger]
	cancel context.CancelFunc
}

func (p *pooledSigner) Destruct() error { p.cancel(); return nil }

// SignerRef is the signer one config took from the pool (the api_gateway
// app holds one and releases it in Cleanup). The zero value holds none; it
// is safe for concurrent use.
type SignerRef struct {
	mu     sync.Mutex
	signer *Signer
	name   string
}

// Take returns the signer of the keys kept in storage (storageName tells
// storages apart: the same for every config using the same one) for alg and
// rotateEvery, taking it on the first call: the one a running config uses,
// or a new one, synced once with the storage (which creates the first key
// when there is none) and syncing from then on. Its sync errors go to logger
// from then on.
func (r *SignerRef) Take(storage Storage, storageName, alg string, rotateEvery time.Duration, logger *zap.Logger) (*Signer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.signer != nil {
		return r.signer, nil
	}
	name := fmt.Sprintf("signer:%s:%s:%d", storageName, alg, rotateEvery)
	v, _, err := signers.LoadOrNew(name, func() (caddy.Destructor, error) {
		s := &Signer{Storage: storage, Alg: alg, RotateEvery: rotateEvery}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Sync(ctx, time.Now()); err != nil {
			return nil, err
		}
		p := &pooledSigner{Signer: s}
		p.logger.Store(logger)
		runCtx, stop := context.WithCancel(context.Background())
		p.cancel = stop
		go s.Run(runCtx, func(err error) {
			p.logger.Load().Error("syncing signing keys with storage failed", zap.Error(err))
		})
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p := v.(*pooledSigner)
	p.logger.Store(logger)
	r.signer, r.name = p.Signer, name
	return r.signer, nil
}

// Release gives back the signer taken, if any. A nil SignerRef holds none.
func (r *SignerRef) Release() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.signer == nil {
		return nil
	}
	_, err := signers.Delete(r.name)
	r.signer = nil
	return err
}

// CheckRotateEvery accepts the rotation periods of signing keys: at least 1s.
func CheckRotateEvery(d time.Duration) error {
	if d < time.Second {
		return errors.New("rotate_every must be at least 1s")
	}
	return nil
}
