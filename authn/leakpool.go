package authn

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// State of api_key_leak that must outlive a config reload, in
// caddy.UsagePools keyed by what identifies it: a reload (even of an
// unchanged config) must not give every client a fresh report budget, nor
// make the gateway fetch GitHub's key list again.
var (
	// leakBuckets holds the per-client report budgets, keyed by the
	// handler's form and rate: the handlers of one form with one rate share
	// a budget.
	leakBuckets = caddy.NewUsagePool()
	// githubKeySets holds GitHub's fetched key list and the time of the
	// last fetch, keyed by where it comes from.
	githubKeySets = caddy.NewUsagePool()
)

// maxLeakClients bounds the client addresses a report budget remembers.
const maxLeakClients = 10000

type pooledBuckets struct{ *clientBuckets }

func (pooledBuckets) Destruct() error { return nil }

type pooledGitHubKeys struct{ *GitHubKeys }

func (pooledGitHubKeys) Destruct() error { return nil }

// leakForm names the form of the handler: "github" or "plain".
func (h *KeyLeak) leakForm() string {
	if h.GitHub != nil {
		return "github"
	}
	return "plain"
}

// takeBuckets takes the report budget of the handler's form and rate from
// the pool. Cleanup gives it back.
func (h *KeyLeak) takeBuckets() error {
	window := time.Duration(h.RateWindow)
	key := configKey("api_key_leak.buckets", h.leakForm(), h.RateLimit, window)
	v, _, err := leakBuckets.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledBuckets{newClientBuckets(h.RateLimit, window, maxLeakClients)}, nil
	})
	if err != nil {
		return fmt.Errorf("api_key_leak: %w", err)
	}
	h.buckets, h.bucketsKey = v.(pooledBuckets).clientBuckets, key
	return nil
}

// takeGitHubKeys takes the key list fetched from url from the pool. Cleanup
// gives it back.
func (h *KeyLeak) takeGitHubKeys(url string, timeout, unknownKid time.Duration) error {
	key := configKey("api_key_leak.github_keys", url, timeout, unknownKid)
	v, _, err := githubKeySets.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledGitHubKeys{&GitHubKeys{URL: url, Client: NewHTTPClient(timeout), TTL: time.Hour, MinRefetch: unknownKid}}, nil
	})
	if err != nil {
		return fmt.Errorf("api_key_leak: %w", err)
	}
	h.signers, h.signersKey = v.(pooledGitHubKeys).GitHubKeys, key
	return nil
}

// Cleanup gives back the pooled state Provision took; it works after a
// failed Provision.
func (h *KeyLeak) Cleanup() error {
	if h.bucketsKey != "" {
		leakBuckets.Delete(h.bucketsKey) //nolint:errcheck // Destruct never fails
	}
	if h.signersKey != "" {
		githubKeySets.Delete(h.signersKey) //nolint:errcheck // Destruct never fails
	}
	return nil
}

var _ caddy.CleanerUpper = (*KeyLeak)(nil)
