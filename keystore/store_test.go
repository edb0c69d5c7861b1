package keystore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestStore(t testing.TB, p Policy) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return New(&certmagic.FileStorage{Path: dir}, p), dir
}

func mustCreate(t testing.TB, s *Store, req CreateRequest, now time.Time) (Record, string) {
	t.Helper()
	rec, key, err := s.Create(context.Background(), req, now)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return rec, key
}

func TestAuthenticateResults(t *testing.T) {
	s, _ := newTestStore(t, Policy{Prefix: "agk", Grace: time.Hour})
	rec, key := mustCreate(t, s, CreateRequest{Consumer: "ci-bot", Scopes: []string{"orders:read"}, TTL: 24 * time.Hour}, t0)
	_, revokedKey := mustCreate(t, s, CreateRequest{Consumer: "gone"}, t0)
	revokedID, _, _ := ParseKey("agk", revokedKey)
	if _, _, err := s.Revoke(context.Background(), revokedID, WithSuccessors, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A key with a valid checksum and a known id but another secret.
	wrongSecret, _, err := newKey("agk", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed key whose id does not exist.
	unknownKey, _, _ := newKey("agk", "AAAAAAAAAAAA")

	tests := []struct {
		name string
		key  string
		now  time.Time
		want Result
	}{
		{"valid", key, t0.Add(time.Hour), Accepted},
		{"valid at creation", key, t0, Accepted},
		{"expired at expiry", key, t0.Add(24 * time.Hour), Expired},
		{"expired after", key, t0.Add(25 * time.Hour), Expired},
		{"wrong secret", wrongSecret, t0, Mismatch},
		{"unknown id", unknownKey, t0, Unknown},
		{"revoked", revokedKey, t0.Add(2 * time.Minute), Revoked},
		{"revoked key before revocation", revokedKey, t0, Accepted},
		{"empty", "", t0, Malformed},
		{"prefix only", "agk_", t0, Malformed},
		{"wrong prefix", "xyz" + key[3:], t0, Malformed},
		{"typo", key[:len(key)-10] + flip(key[len(key)-10]) + key[len(key)-9:], t0, Malformed},
		{"truncated", key[:len(key)-1], t0, Malformed},
		{"extended", key + "a", t0, Malformed},
		{"space", " " + key[1:], t0, Malformed},
		{"non-ascii", strings.Replace(key, key[5:6], "é", 1)[:len(key)], t0, Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, got := s.Authenticate(tt.key, tt.now)
			if got != tt.want {
				t.Fatalf("Authenticate = %v, want %v", got, tt.want)
			}
			if (e != nil) != (got == Accepted) {
				t.Fatalf("entry %v with result %v", e, got)
			}
			if got == Accepted && e.Record.Consumer == "" {
				t.Fatal("accepted entry without consumer")
			}
		})
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestEveryTypoIsRejected(t *testing.T) {
	key, _, err := newKey("agk", "abcdefABCDEF")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseKey("agk", key); err != nil {
		t.Fatalf("fresh key does not parse: %v", err)
	}
	for i := 0; i < len(key); i++ {
		for _, c := range []byte("0aZ_") {
			if key[i] == c {
				continue
			}
			typo := key[:i] + string(c) + key[i+1:]
			if _, _, err := ParseKey("agk", typo); err == nil {
				t.Errorf("typo at %d (%q) accepted", i, c)
			}
		}
	}
}

func TestRotationGraceAndDeprecation(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, Policy{Prefix: "agk", Grace: 48 * time.Hour})
	old, oldKey := mustCreate(t, s, CreateRequest{Consumer: "shop", Scopes: []string{"a", "b"}, AllowedIPs: []string{"10.0.0.0/8"}}, t0)

	rotatedAt := t0.Add(time.Hour)
	fresh, prev, newKey, err := s.Rotate(ctx, old.ID, -1, rotatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Consumer != "shop" || strings.Join(fresh.Scopes, " ") != "a b" || fresh.RotatedFrom != old.ID || len(fresh.AllowedIPs) != 1 {
		t.Fatalf("new record %+v", fresh)
	}
	if prev.RotatedTo != fresh.ID || !prev.ExpiresAt.Equal(rotatedAt.Add(48*time.Hour)) {
		t.Fatalf("old record %+v", prev)
	}
	if newKey == oldKey {
		t.Fatal("rotation returned the same key")
	}

	// Both keys work during grace; only the old one is deprecated.
	e, res := s.Authenticate(oldKey, rotatedAt.Add(time.Minute))
	if res != Accepted {
		t.Fatalf("old key in grace: %v", res)
	}
	dep, sunset := e.Deprecation(rotatedAt.Add(time.Minute))
	if dep != "@1767326645" || sunset != "Sun, 04 Jan 2026 04:04:05 GMT" {
		t.Fatalf("deprecation %q sunset %q", dep, sunset)
	}
	e, res = s.Authenticate(newKey, rotatedAt.Add(time.Minute))
	if res != Accepted {
		t.Fatalf("new key: %v", res)
	}
	if dep, _ := e.Deprecation(rotatedAt); dep != "" {
		t.Fatalf("new key deprecated: %q", dep)
	}

	// After grace only the new key works.
	if _, res := s.Authenticate(oldKey, rotatedAt.Add(48*time.Hour)); res != Expired {
		t.Fatalf("old key after grace: %v", res)
	}
	if _, res := s.Authenticate(newKey, rotatedAt.Add(480*time.Hour)); res != Accepted {
		t.Fatalf("new key later: %v", res)
	}

	// A rotated key cannot be rotated again; a revoked one neither.
	if _, _, _, err := s.Rotate(ctx, old.ID, time.Hour, rotatedAt.Add(time.Minute)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second rotation: %v", err)
	}
	if _, _, err := s.Revoke(ctx, fresh.ID, WithSuccessors, rotatedAt.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, res := s.Authenticate(newKey, rotatedAt.Add(2*time.Minute)); res != Revoked {
		t.Fatalf("revoked new key: %v", res)
	}
	if _, _, _, err := s.Rotate(ctx, fresh.ID, time.Hour, rotatedAt.Add(3*time.Minute)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rotating revoked key: %v", err)
	}
	if _, _, _, err := s.Rotate(ctx, "AAAAAAAAAAAA", time.Hour, rotatedAt); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotating unknown key: %v", err)
	}
	if _, _, _, err := s.Rotate(ctx, "../../etc", time.Hour, rotatedAt); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotating bad id: %v", err)
	}
}

func TestMaxAgeDeprecation(t *testing.T) {
	s, _ := newTestStore(t, Policy{MaxAge: 90 * 24 * time.Hour})
	_, key := mustCreate(t, s, CreateRequest{Consumer: "c"}, t0)
	e, res := s.Authenticate(key, t0.Add(89*24*time.Hour))
	if res != Accepted {
		t.Fatal(res)
	}
	if dep, _ := e.Deprecation(t0.Add(89 * 24 * time.Hour)); dep != "" {
		t.Fatalf("young key deprecated: %q", dep)
	}
	dep, sunset := e.Deprecation(t0.Add(91 * 24 * time.Hour))
	if want := "@1775099045"; dep != want || sunset != "" {
		t.Fatalf("old key: deprecation %q (want %q), sunset %q", dep, want, sunset)
	}
	// A policy change from a reload applies to existing entries.
	s.SetPolicy(Policy{})
	e, _ = s.Authenticate(key, t0)
	if dep, _ := e.Deprecation(t0.Add(91 * 24 * time.Hour)); dep != "" {
		t.Fatalf("max_age off, still deprecated: %q", dep)
	}
}

func TestAllowedIPs(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	_, key := mustCreate(t, s, CreateRequest{Consumer: "c", AllowedIPs: []string{"10.1.0.0/16", "2001:db8::1"}}, t0)
	e, _ := s.Authenticate(key, t0)
	for ip, want := range map[string]bool{
		"10.1.2.3": true, "10.2.0.1": false, "2001:db8::1": true, "2001:db8::2": false,
		"::ffff:10.1.0.9": true, "127.0.0.1": false,
	} {
		if got := e.AllowsIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %v, want %v", ip, got, want)
		}
	}
	if e.AllowsIP(netip.Addr{}) {
		t.Error("invalid address allowed on a restricted key")
	}
}

func TestCreateValidation(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	long := strings.Repeat("x", 2000)
	for name, req := range map[string]CreateRequest{
		"no consumer":      {},
		"long consumer":    {Consumer: long},
		"space consumer":   {Consumer: "a b"},
		"control consumer": {Consumer: "a\x00"},
		"bad utf8":         {Consumer: "a\xff"},
		"scope with space": {Consumer: "c", Scopes: []string{"a b"}},
		"scope with quote": {Consumer: "c", Scopes: []string{`a"`}},
		"empty scope":      {Consumer: "c", Scopes: []string{""}},
		"bad ip":           {Consumer: "c", AllowedIPs: []string{"10.0.0.300"}},
		"negative ttl":     {Consumer: "c", TTL: -time.Second},
		"long description": {Consumer: "c", Description: long},
		"too many scopes":  {Consumer: "c", Scopes: make([]string, MaxScopes+1)},
	} {
		if _, _, err := s.Create(context.Background(), req, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	// The admin API's answer says why a scope list written with commas or
	// scope=x is refused: the grammar of the Caddyfile and the CLI.
	for _, scope := range []string{"orders:read,orders:write", "scope=admin"} {
		_, _, err := s.Create(context.Background(), CreateRequest{Consumer: "c", Scopes: []string{scope}}, t0)
		if err == nil || !strings.Contains(err.Error(), "commas or '='") {
			t.Errorf("scope %q: err = %v, want one naming commas and '='", scope, err)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("invalid requests stored %d keys", s.Len())
	}
}

// TestSecretNeverStored greps the storage folder for each key and each secret.
func TestSecretNeverStored(t *testing.T) {
	s, dir := newTestStore(t, Policy{})
	var keys []string
	rec, key := mustCreate(t, s, CreateRequest{Consumer: "c", Scopes: []string{"x"}}, t0)
	keys = append(keys, key)
	_, _, rotated, err := s.Rotate(context.Background(), rec.ID, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, rotated)
	files := 0
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, k := range keys {
			_, secret, _ := ParseKey(DefaultPrefix, k)
			if strings.Contains(string(data), secret) || strings.Contains(string(data), k) {
				t.Errorf("%s holds a secret", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("expected the records on disk, found %d files", files)
	}
}

func TestLoadAfterRestart(t *testing.T) {
	ctx := context.Background()
	s, dir := newTestStore(t, Policy{})
	_, key := mustCreate(t, s, CreateRequest{Consumer: "c", Scopes: []string{"x"}}, t0)
	// A corrupt record and a stray file must not stop the others from loading.
	if err := os.WriteFile(filepath.Join(dir, StoragePrefix, "BBBBBBBBBBBB.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StoragePrefix, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	restarted := New(&certmagic.FileStorage{Path: dir}, Policy{})
	if err := restarted.Load(ctx); err == nil || !strings.Contains(err.Error(), "BBBBBBBBBBBB") {
		t.Fatalf("Load error = %v, want one naming the corrupt record", err)
	}
	e, res := restarted.Authenticate(key, t0)
	if res != Accepted || e.ScopeString != "x" {
		t.Fatalf("after restart: %v", res)
	}
	if restarted.Len() != 1 {
		t.Fatalf("Len = %d", restarted.Len())
	}
}

func TestReloadPicksUpOtherInstance(t *testing.T) {
	ctx := context.Background()
	a, dir := newTestStore(t, Policy{})
	b := New(&certmagic.FileStorage{Path: dir}, Policy{})
	rec, key := mustCreate(t, a, CreateRequest{Consumer: "c"}, t0)
	if _, res := b.Authenticate(key, t0); res != Unknown {
		t.Fatalf("b knows the key before reload: %v", res)
	}
	if err := b.Reload(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, res := b.Authenticate(key, t0); res != Accepted {
		t.Fatalf("after reload: %v", res)
	}
	if _, _, err := a.Revoke(ctx, rec.ID, WithSuccessors, t0); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, res := b.Authenticate(key, t0); res != Revoked {
		t.Fatalf("after revoke elsewhere: %v", res)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	_, key := mustCreate(t, s, CreateRequest{Consumer: "c"}, t0)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if _, res := s.Authenticate(key, t0); res != Accepted {
					t.Errorf("got %v", res)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				rec, _ := mustCreate(t, s, CreateRequest{Consumer: "other"}, t0)
				if _, _, err := s.Revoke(context.Background(), rec.ID, WithSuccessors, t0); err != nil {
					t.Error(err)
				}
				_ = s.List()
			}
		}()
	}
	wg.Wait()
	if s.Len() != 21 {
		t.Fatalf("Len = %d, want 21", s.Len())
	}
}

func TestValidPrefix(t *testing.T) {
	for p, want := range map[string]bool{"agk": true, "a1": true, "": false, "1a": false, "A": false, "a_b": false, "abcdefghijklmnopq": false} {
		if ValidPrefix(p) != want {
			t.Errorf("ValidPrefix(%q) != %v", p, want)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	s, _ := newTestStore(b, Policy{})
	_, key := mustCreate(b, s, CreateRequest{Consumer: "c", Scopes: []string{"orders:read"}}, t0)
	for i := 0; i < 10000; i++ {
		mustCreate(b, s, CreateRequest{Consumer: "filler"}, t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, res := s.Authenticate(key, t0); res != Accepted {
			b.Fatal(res)
		}
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	s, _ := newTestStore(b, Policy{})
	_, key := mustCreate(b, s, CreateRequest{Consumer: "c"}, t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, res := s.Authenticate(key, t0); res != Accepted {
				b.Error(res)
				return
			}
		}
	})
}

func FuzzParseKey(f *testing.F) {
	key, _, _ := newKey("agk", "abcdefABCDEF")
	f.Add("agk", key)
	f.Add("agk", "")
	f.Add("agk", "agk_")
	f.Add("agk", "agk_abcdefABCDEF_")
	f.Add("a", key)
	f.Add("agk", strings.Repeat("\xff", KeyLen("agk")))
	f.Fuzz(func(t *testing.T, prefix, s string) {
		id, secret, err := ParseKey(prefix, s)
		if err != nil {
			if id != "" || secret != "" {
				t.Fatal("parts returned with an error")
			}
			return
		}
		if !ValidID(id) || len(secret) != SecretLen || !strings.Contains(s, id) {
			t.Fatalf("accepted %q: id %q secret len %d", s, id, len(secret))
		}
	})
}

// BenchmarkLoad100k measures the start-up load of 100,000 keys from a file
// system storage, and the memory they add to the index.
func BenchmarkLoad100k(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 100,000 files")
	}
	dir := b.TempDir()
	st := &certmagic.FileStorage{Path: dir}
	ctx := context.Background()
	// Write the records directly: Create's atomic writes would take minutes.
	folder := filepath.Join(dir, StoragePrefix)
	if err := os.MkdirAll(folder, 0o700); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100_000; i++ {
		id := fmt.Sprintf("K%011d", i)
		h := HashSecret(fmt.Sprintf("%032d", i))
		rec := Record{ID: id, Consumer: "consumer-" + strconv.Itoa(i), Scopes: []string{"orders:read", "orders:write"},
			Hash: hex.EncodeToString(h[:]), CreatedAt: t0}
		data, _ := json.Marshal(rec)
		if err := os.WriteFile(filepath.Join(folder, id+".json"), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := New(st, Policy{})
		if err := s.Load(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.Len() != 100_000 {
			b.Fatalf("loaded %d", s.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
		runtime.KeepAlive(s)
	}
}

// BenchmarkLoadFast100k measures a start from a snapshot of 100,000 keys.
func BenchmarkLoadFast100k(b *testing.B) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: b.TempDir()}
	seed := New(st, Policy{})
	seed.mu.Lock()
	for i := 0; i < 100_000; i++ {
		id := fmt.Sprintf("K%011d", i)
		h := HashSecret(fmt.Sprintf("%032d", i))
		e, err := newEntry(Record{ID: id, Consumer: "consumer-" + strconv.Itoa(i), Scopes: []string{"orders:read", "orders:write"},
			Hash: hex.EncodeToString(h[:]), CreatedAt: t0}, 0)
		if err != nil {
			b.Fatal(err)
		}
		seed.entries[id] = e
	}
	seed.mu.Unlock()
	if err := seed.WriteSnapshot(ctx, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := New(st, Policy{})
		used, err := s.LoadFast(ctx, time.Now())
		if err != nil || !used || s.Len() != 100_000 {
			b.Fatalf("used %v, %v, %d keys", used, err, s.Len())
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
		runtime.KeepAlive(s)
	}
}
