package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"
)

func benchVerify(b *testing.B, k *testKey, cached bool) {
	v := newVerifier(b, StaticKeys{NewKeySet([]*VerifyKey{mustPub(b, k)})})
	if !cached {
		v.Cache = nil
	}
	tok := k.sign(b, goodClaims(), nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTCached: a consumer repeating its token pays a hash and a map lookup.
func BenchmarkJWTCached(b *testing.B) { benchVerify(b, newES256(b, "es"), true) }

func BenchmarkJWTUncachedES256(b *testing.B) { benchVerify(b, newES256(b, "es"), false) }
func BenchmarkJWTUncachedEdDSA(b *testing.B) { benchVerify(b, newEdDSA(b, "ed"), false) }
func BenchmarkJWTUncachedRS256(b *testing.B) { benchVerify(b, newRS256(b, "rs"), false) }

// BenchmarkRawES256 and BenchmarkRawEdDSA are the bare signature checks, the
// floor of an uncached verification.
func BenchmarkRawES256(b *testing.B) {
	k := newES256(b, "es")
	tok := k.sign(b, goodClaims(), nil)
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := &k.priv.(*ecdsa.PrivateKey).PublicKey
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(tok[:i]))
		if !ecdsaVerifyRS(pub, h[:], sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkRawEdDSA(b *testing.B) {
	k := newEdDSA(b, "ed")
	tok := k.sign(b, goodClaims(), nil)
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := k.priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, []byte(tok[:i]), sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkIntrospectCached(b *testing.B) {
	in := &Introspector{Cache: NewTokenCache(100), CacheTTL: time.Minute}
	in.Cache.Put(TokenKey("opaque-token-1234567890"), &Identity{Consumer: "x"}, nil, t0.Add(time.Minute), t0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Verify(ctx, "opaque-token-1234567890", t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpstreamMintCached(b *testing.B) {
	s := &Signer{Storage: newMemStorage(), Alg: "EdDSA", RotateEvery: time.Hour}
	if err := s.Sync(context.Background(), t0); err != nil {
		b.Fatal(err)
	}
	m := &UpstreamMinter{Signer: s, Issuer: "caddy-apigate", Audience: "orders", TTL: time.Minute}
	id := &Identity{Consumer: "shop", ScopeString: "orders:read", Method: "jwt"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mint(id, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpstreamSign(b *testing.B) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			s := &Signer{Storage: newMemStorage(), Alg: alg, RotateEvery: time.Hour}
			if err := s.Sync(context.Background(), t0); err != nil {
				b.Fatal(err)
			}
			m := &UpstreamMinter{Signer: s, Issuer: "caddy-apigate", Audience: "orders", TTL: time.Minute}
			id := &Identity{Consumer: "shop", ScopeString: "orders:read", Method: "jwt"}
			b.ReportAllocs()
			now := t0
			for b.Loop() {
				now = now.Add(time.Minute) // past renewal: a fresh signature each time
				if _, err := m.Mint(id, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ecdsaVerifyRS(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, hash, r, s)
}

// BenchmarkUncachedVsRaw interleaves an uncached verification and the bare
// signature check of the same token, so machine noise hits both alike, and
// reports their ratio (1.0 means the verification costs only the signature).
func BenchmarkUncachedVsRaw(b *testing.B) {
	for _, k := range []*testKey{newES256(b, "es"), newEdDSA(b, "ed")} {
		b.Run(k.alg.Alg(), func(b *testing.B) {
			v := newVerifier(b, StaticKeys{NewKeySet([]*VerifyKey{mustPub(b, k)})})
			v.Cache = nil
			tok := k.sign(b, goodClaims(), nil)
			i := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			raw := func() bool {
				switch p := k.priv.(type) {
				case *ecdsa.PrivateKey:
					h := sha256.Sum256([]byte(tok[:i]))
					return ecdsaVerifyRS(&p.PublicKey, h[:], sig)
				case ed25519.PrivateKey:
					return ed25519.Verify(p.Public().(ed25519.PublicKey), []byte(tok[:i]), sig)
				}
				return false
			}
			ctx := context.Background()
			var full, bare time.Duration
			for b.Loop() {
				t1 := time.Now()
				if _, err := v.Verify(ctx, tok, t0); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if !raw() {
					b.Fatal("bad signature")
				}
				full += t2.Sub(t1)
				bare += time.Since(t2)
			}
			b.ReportMetric(float64(full.Nanoseconds())/float64(b.N), "verify-ns/op")
			b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(full)/float64(bare), "ratio")
		})
	}
}
