package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// RemoteKeys is a JWKS fetched from an identity provider, either from a
// configured URL or from the jwks_uri of the issuer's OpenID Connect discovery
// document. It keeps the last good key set for requests, refreshes it in the
// background as the response's caching headers say (within MinTTL and MaxTTL),
// and refreshes on a token with an unknown kid at most once per
// UnknownKidInterval, so a flood of tokens with random kids cannot make the
// gateway hammer the provider. A provider that is down or slow never blocks a
// request whose key is cached: the key set is read with one atomic load.
//
// Set the exported fields, then call Lookup and Run; do not change the fields
// afterwards. RemoteKeys is safe for concurrent use.
type RemoteKeys struct {
	// URL is the JWKS URL; when empty, it is discovered from Issuer.
	URL string
	// Issuer is the issuer whose discovery document names the JWKS URL.
	Issuer string
	// Client makes the requests; it should have a time-out.
	Client *http.Client
	// MinTTL and MaxTTL bound how long a fetched key set is used before the
	// next background refresh; DefaultTTL applies when the response has no
	// caching headers.
	MinTTL, MaxTTL, DefaultTTL time.Duration
	// UnknownKidInterval is the least time between two fetches caused by
	// tokens naming a kid the set does not have; other fetches do not delay
	// them.
	UnknownKidInterval time.Duration
	// OnError, when set, is told about failed fetches (never with a token).
	OnError func(error)
	// Observe, when set, is told the outcome of every fetch.
	Observe func(ok bool)

	state  atomic.Pointer[keyState]
	fetchN atomic.Int64

	mu sync.Mutex
	// lastUnknown is when the last fetch caused by an unknown kid started;
	// fetches at start, on reload and on schedule do not set it, so a key the
	// provider publishes right after one of them is fetched on first use.
	lastUnknown time.Time
	unknownSeen bool
	flight      *flight // the fetch in progress, if any
	jwksURL     string  // discovered
}

type keyState struct {
	set     *KeySet
	expires time.Time
}

// Keys returns the current key set, nil before the first successful fetch.
func (k *RemoteKeys) Keys() *KeySet {
	if s := k.state.Load(); s != nil {
		return s.set
	}
	return nil
}

// Fetches returns how many fetches of the JWKS were made.
func (k *RemoteKeys) Fetches() int64 { return k.fetchN.Load() }

// Lookup returns the keys that may verify a token with this kid and alg. When
// the set has no such kid, it refreshes the set first (or waits for the
// refresh in flight), unless another unknown kid caused a refresh less than
// UnknownKidInterval before now, in which case it returns nothing at once.
// Refreshes of other causes (Run, Refresh) do not count: a kid the provider
// published right after one of them is fetched on its first use.
func (k *RemoteKeys) Lookup(ctx context.Context, kid, alg string, now time.Time) []*VerifyKey {
	set := k.Keys()
	if keys := set.Lookup(kid, alg); len(keys) > 0 {
		return keys
	}
	if set != nil && (kid == "" || set.Has(kid)) {
		// Known kid with an algorithm it does not allow, or no kid: a refresh
		// would not change the answer.
		return nil
	}
	k.mu.Lock()
	if f := k.flight; f != nil {
		k.mu.Unlock()
		f.wait(ctx)
		return k.Keys().Lookup(kid, alg)
	}
	if k.unknownSeen && now.Sub(k.lastUnknown) < k.UnknownKidInterval {
		k.mu.Unlock()
		return nil
	}
	k.unknownSeen, k.lastUnknown = true, now
	f := k.startLocked()
	k.mu.Unlock()
	k.run(ctx, f, now)
	return k.Keys().Lookup(kid, alg)
}

// Refresh fetches the key set now, or waits for the fetch in flight.
func (k *RemoteKeys) Refresh(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	if f := k.flight; f != nil {
		k.mu.Unlock()
		f.wait(ctx)
		return f.err
	}
	f := k.startLocked()
	k.mu.Unlock()
	k.run(ctx, f, now)
	return f.err
}

// flight is one fetch of the key set that requests may wait for.
type flight struct {
	done chan struct{}
	err  error
}

func (f *flight) wait(ctx context.Context) {
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

// startLocked records a new fetch; k.mu must be held.
func (k *RemoteKeys) startLocked() *flight {
	f := &flight{done: make(chan struct{})}
	k.flight = f
	return f
}

func (k *RemoteKeys) run(ctx context.Context, f *flight, now time.Time) {
	f.err = k.fetch(ctx, now)
	if k.Observe != nil {
		k.Observe(f.err == nil)
	}
	k.mu.Lock()
	k.flight = nil
	k.mu.Unlock()
	close(f.done)
}

// Run keeps the key set fresh until ctx is done: it fetches at once, then when
// the set expires; after a failure it retries with a growing delay, keeping the
// old keys in use meanwhile.
func (k *RemoteKeys) Run(ctx context.Context) {
	retry := k.UnknownKidInterval
	if retry <= 0 {
		retry = time.Second
	}
	delay := time.Duration(0)
	failures := 0
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		s := k.state.Load()
		if s != nil && now.Before(s.expires) {
			delay = s.expires.Sub(now)
			continue
		}
		if err := k.Refresh(ctx, now); err != nil {
			failures++
			delay = retry << min(failures-1, 6)
			if k.MaxTTL > 0 && delay > k.MaxTTL {
				delay = k.MaxTTL
			}
			if k.OnError != nil && ctx.Err() == nil {
				k.OnError(err)
			}
			continue
		}
		failures = 0
		delay = 0
	}
}

func (k *RemoteKeys) fetch(ctx context.Context, now time.Time) error {
	k.fetchN.Add(1)
	// The fetch serves every request waiting on it: one caller going away must
	// not cancel it. The client's time-out bounds it.
	ctx = context.WithoutCancel(ctx)
	u, err := k.resolveURL(ctx)
	if err != nil {
		return err
	}
	body, header, err := k.get(ctx, u, "application/jwk-set+json, application/json")
	if err != nil {
		k.mu.Lock()
		if k.URL == "" {
			k.jwksURL = "" // discover again next time: the provider may have moved it
		}
		k.mu.Unlock()
		return fmt.Errorf("fetching jwks: %w", err)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("jwks: no usable signature key")
	}
	ttl := CacheTTL(header, now, k.DefaultTTL)
	if ttl < k.MinTTL {
		ttl = k.MinTTL
	}
	if k.MaxTTL > 0 && ttl > k.MaxTTL {
		ttl = k.MaxTTL
	}
	k.state.Store(&keyState{set: NewKeySet(keys), expires: now.Add(ttl)})
	return nil
}

func (k *RemoteKeys) resolveURL(ctx context.Context) (string, error) {
	if k.URL != "" {
		return k.URL, nil
	}
	k.mu.Lock()
	u := k.jwksURL
	k.mu.Unlock()
	if u != "" {
		return u, nil
	}
	u, err := Discover(ctx, k.client(), k.Issuer)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	k.jwksURL = u
	k.mu.Unlock()
	return u, nil
}

func (k *RemoteKeys) client() *http.Client {
	if k.Client != nil {
		return k.Client
	}
	return defaultClient
}

var defaultClient = NewHTTPClient(5 * time.Second)

func (k *RemoteKeys) get(ctx context.Context, u, accept string) ([]byte, http.Header, error) {
	return httpGet(ctx, k.client(), u, accept)
}
