package authn

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"net/http"
	"sync"
	"time"
)

// DefaultGitHubKeysURL is where GitHub publishes the keys that sign its
// secret scanning reports.
const DefaultGitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// GitHubKeys finds the key that signed a GitHub secret scanning report by
// its identifier: among the configured keys when there are any, else in
// GitHub's published list, fetched when first needed, kept for TTL, and
// fetched again for an identifier it does not know at most once per
// MinRefetch (the list is public: an unknown identifier must not make the
// gateway call GitHub on every request). Safe for concurrent use.
type GitHubKeys struct {
	// Static are the configured keys; when set, nothing is fetched.
	Static map[string]*ecdsa.PublicKey
	// URL is the published list (DefaultGitHubKeysURL).
	URL        string
	Client     *http.Client
	TTL        time.Duration
	MinRefetch time.Duration

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time // of the last attempt
	loaded  time.Time // of the last success
}

// ErrUnknownSigner is the error of a key identifier that names no key.
var ErrUnknownSigner = errors.New("no key with this identifier")

// ErrKeysUnavailable is the error of a list that could not be fetched.
var ErrKeysUnavailable = errors.New("github's key list could not be fetched")

// Key returns the key named id at now.
func (g *GitHubKeys) Key(ctx context.Context, id string, now time.Time) (*ecdsa.PublicKey, error) {
	if g.Static != nil {
		if k, ok := g.Static[id]; ok {
			return k, nil
		}
		return nil, ErrUnknownSigner
	}
	if id == "" || len(id) > MaxKidLen {
		return nil, ErrUnknownSigner
	}
	// One fetch at a time: the others wait for its keys.
	g.mu.Lock()
	defer g.mu.Unlock()
	k, known := g.keys[id]
	fresh := !g.loaded.IsZero() && now.Sub(g.loaded) < g.TTL
	if known && fresh {
		return k, nil
	}
	if !g.fetched.IsZero() && now.Sub(g.fetched) < g.MinRefetch {
		if known {
			return k, nil
		}
		if g.keys == nil {
			return nil, ErrKeysUnavailable
		}
		return nil, ErrUnknownSigner
	}
	g.fetched = now
	body, _, err := httpGet(ctx, g.Client, g.URL, "application/json")
	if err == nil {
		var keys map[string]*ecdsa.PublicKey
		if keys, err = ParseGitHubKeys(body); err == nil {
			g.keys, g.loaded = keys, now
		}
	}
	if k, ok := g.keys[id]; ok {
		// A failed fetch keeps the keys known before.
		return k, nil
	}
	if g.keys == nil || err != nil {
		return nil, ErrKeysUnavailable
	}
	return nil, ErrUnknownSigner
}
