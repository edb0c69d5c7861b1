package authn

import (
	"sync"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/golang-jwt/jwt/v5"
)

// The headers of DPoP proofs, cached by their bytes: a client sends the same
// header (typ, alg and its public key) with every proof, and parsing it
// (JSON, big numbers, a curve point check) and computing the key's
// thumbprint cost as much as verifying the signature. Only headers that
// parsed are cached, so a flood of bad ones costs what it did without the
// cache; ristretto's admission keeps the keys in use when unknown ones crowd
// in. The cache holds public keys only.

// proofHeaderCacheCost bounds the cache: the bytes of the headers it holds
// plus proofHeaderEntryCost each (about 25,000 P-256 keys or 5,000 RSA keys
// of 4096 bits in 8 MiB).
const (
	proofHeaderCacheCost = 8 << 20
	proofHeaderEntryCost = 100
)

// proofHeader is what a proof's header says. segment is its base64url text:
// a hit is a hit only when the text is equal (the cache finds an entry by a
// 128-bit hash, which does not prove that two headers are the same).
type proofHeader struct {
	segment string
	alg     string
	method  jwt.SigningMethod
	key     *VerifyKey
	jkt     string
}

type proofHeaderCache struct {
	once  sync.Once
	cache *ristretto.Cache[string, *proofHeader]
	err   error
}

// proofHeaders is the process's cache of proof headers, made when the first
// proof arrives.
var proofHeaders = &proofHeaderCache{}

// get returns what the header segment says, parsing it on a miss.
func (c *proofHeaderCache) get(segment string) (*proofHeader, error) {
	c.once.Do(func() {
		c.cache, c.err = ristretto.NewCache(&ristretto.Config[string, *proofHeader]{
			NumCounters: 10 * proofHeaderCacheCost / proofHeaderEntryCost,
			MaxCost:     proofHeaderCacheCost,
			BufferItems: 64,
		})
	})
	if c.err == nil {
		if h, ok := c.cache.Get(segment); ok && h.segment == segment {
			return h, nil
		}
	}
	h, err := parseProofHeader(segment)
	if err != nil {
		return nil, err
	}
	if c.err == nil {
		c.cache.Set(segment, h, int64(len(segment)+proofHeaderEntryCost))
	}
	return h, nil
}
