package authn

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MemoryJTI is a JTICache in process memory, for one gateway. It holds at
// most Max keys: when full, it forgets the expired ones, and refuses (an
// error) while it is still full, since forgetting a live jti would let its
// proof be replayed. Only proofs whose signature, token and request verified
// reach it. The zero value is not usable: set Max. Safe for concurrent use.
type MemoryJTI struct {
	Max int

	mu sync.Mutex
	m  map[string]time.Time
}

// ErrJTICacheFull is the error of a full MemoryJTI.
var ErrJTICacheFull = errors.New("dpop: jti cache full")

// FirstUse records key until until.
func (c *MemoryJTI) FirstUse(_ context.Context, key string, until, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]time.Time)
	}
	if exp, ok := c.m[key]; ok && now.Before(exp) {
		return false, nil
	}
	if len(c.m) >= c.Max {
		for k, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.Max {
			return false, ErrJTICacheFull
		}
	}
	c.m[key] = until
	return true, nil
}

// RedisJTI is a JTICache shared by a cluster: SET NX with an expiry, so a
// proof is accepted once by the whole cluster. When Redis fails it falls
// back to Local (each gateway then accepts a proof once).
type RedisJTI struct {
	Client redis.UniversalClient
	Local  JTICache
}

// FirstUse records key until until.
func (c *RedisJTI) FirstUse(ctx context.Context, key string, until, now time.Time) (bool, error) {
	ttl := until.Sub(now)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := c.Client.SetNX(ctx, "apigate:dpop:jti:"+key, 1, ttl).Result()
	if err != nil {
		return c.Local.FirstUse(ctx, key, until, now)
	}
	return ok, nil
}

// localJTIs remembers the proofs of this process, whatever the
// configuration: a proof replayed across a config reload is still refused.
var localJTIs = &MemoryJTI{Max: 200000}
