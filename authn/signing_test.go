package authn

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestSignerRef: configs signing alike with one storage share one signer (a
// reload keeps it, and its keys); another algorithm, period or storage gets
// its own; the pool lets a signer go when the last config releases it.
func TestSignerRef(t *testing.T) {
	storage := newMemStorage()
	take := func(r *SignerRef, storageName, alg string, every time.Duration) *Signer {
		t.Helper()
		s, err := r.Take(storage, storageName, alg, every, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var old, reloaded, other SignerRef
	s := take(&old, "mem:1", "EdDSA", time.Hour)
	if again := take(&old, "mem:1", "ES256", time.Minute); again != s {
		t.Fatal("a second Take of one ref returned another signer")
	}
	if s.ActiveKid(time.Now()) == "" {
		t.Fatal("a new signer has no active key")
	}
	if take(&reloaded, "mem:1", "EdDSA", time.Hour) != s {
		t.Fatal("a config signing alike got another signer")
	}
	for _, c := range []struct {
		storage, alg string
		every        time.Duration
	}{{"mem:1", "ES256", time.Hour}, {"mem:1", "EdDSA", 2 * time.Hour}, {"mem:2", "EdDSA", time.Hour}} {
		var r SignerRef
		if take(&r, c.storage, c.alg, c.every) == s {
			t.Fatalf("%v shares the signer", c)
		}
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Release(); err != nil {
		t.Fatal(err)
	}
	if err := old.Release(); err != nil {
		t.Fatal("a second Release:", err)
	}
	if take(&other, "mem:1", "EdDSA", time.Hour) != s {
		t.Fatal("the signer was let go while a config still held it")
	}
	for _, r := range []*SignerRef{&reloaded, &other} {
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := signers.References("signer:mem:1:EdDSA:3600000000000"); n != 0 {
		t.Fatalf("%d references left", n)
	}
	var none *SignerRef
	if err := none.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRotateEvery(t *testing.T) {
	if CheckRotateEvery(time.Second) != nil || CheckRotateEvery(999*time.Millisecond) == nil {
		t.Fatal("the bound is 1s")
	}
}
