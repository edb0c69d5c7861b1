package keystore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestSnapshotStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := New(&certmagic.FileStorage{Path: dir}, Policy{})
	_, before := mustCreate(t, a, CreateRequest{Consumer: "before", Scopes: []string{"x"}}, t0)
	loadedAt := time.Now()
	if err := a.WriteSnapshot(ctx, loadedAt); err != nil {
		t.Fatal(err)
	}
	if age := a.SnapshotAge(ctx, loadedAt.Add(time.Minute)); age != time.Minute {
		t.Fatalf("snapshot age %v", age)
	}
	// Changes after the snapshot: a new key, and a revocation of the old one.
	_, after := mustCreate(t, a, CreateRequest{Consumer: "after"}, t0)
	id, _, _ := ParseKey(DefaultPrefix, before)
	if _, _, err := a.Revoke(ctx, id, WithSuccessors, t0); err != nil {
		t.Fatal(err)
	}

	b := New(&certmagic.FileStorage{Path: dir}, Policy{})
	used, err := b.LoadFast(ctx, time.Now())
	if err != nil || !used {
		t.Fatalf("LoadFast: used %v, %v", used, err)
	}
	if _, res := b.Authenticate(after, t0); res != Accepted {
		t.Fatalf("key created after the snapshot: %v", res)
	}
	if _, res := b.Authenticate(before, t0.Add(time.Second)); res != Revoked {
		t.Fatalf("key revoked after the snapshot: %v", res)
	}
	if changed, _ := b.Refresh(ctx, time.Now()); len(changed) != 0 {
		t.Fatalf("refresh after a fast start reloaded %v again", changed)
	}

	// A stale or corrupt snapshot is not used; the full load still works.
	c := New(&certmagic.FileStorage{Path: dir}, Policy{})
	if used, err := c.LoadFast(ctx, time.Now().Add(maxSnapshotAge+time.Minute)); used || err != nil || c.Len() != 2 {
		t.Fatalf("stale snapshot: used %v, %v, %d keys", used, err, c.Len())
	}
	if err := os.WriteFile(filepath.Join(dir, SnapshotPath), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if used, err := c.LoadFast(ctx, time.Now()); used || err != nil || c.Len() != 2 {
		t.Fatalf("corrupt snapshot: used %v, %v, %d keys", used, err, c.Len())
	}
}

// TestOpen: the first start loads every record and says so (its snapshot is
// then due); once a snapshot exists, a start reads it instead.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	backend := &certmagic.FileStorage{Path: t.TempDir()}
	mustCreate(t, New(backend, Policy{}), CreateRequest{Consumer: "c"}, t0)
	core, logs := observer.New(zapcore.InfoLevel)
	s, fullLoad, err := Open(ctx, backend, Policy{}, t0, zap.New(core))
	if err != nil || s.Len() != 1 || !fullLoad.Equal(t0) {
		t.Fatalf("first open: %d keys, full load at %v, %v", s.Len(), fullLoad, err)
	}
	if err := s.WriteSnapshot(ctx, fullLoad); err != nil {
		t.Fatal(err)
	}
	s, fullLoad, err = Open(ctx, backend, Policy{}, t0.Add(time.Minute), zap.New(core))
	if err != nil || s.Len() != 1 || !fullLoad.IsZero() {
		t.Fatalf("open from the snapshot: %d keys, full load at %v, %v", s.Len(), fullLoad, err)
	}
	loaded := logs.FilterMessage("api keys loaded").All()
	if len(loaded) != 2 || loaded[0].ContextMap()["from_snapshot"] != false || loaded[1].ContextMap()["from_snapshot"] != true {
		t.Fatalf("logs %v", logs.All())
	}
	// An unreadable record is logged and left out; the others load.
	if err := os.WriteFile(filepath.Join(backend.Path, StoragePrefix, "AAAAAAAAAAAA.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(backend.Path, SnapshotPath)); err != nil {
		t.Fatal(err)
	}
	if s, _, err := Open(ctx, backend, Policy{}, t0, zap.New(core)); err != nil || s.Len() != 1 {
		t.Fatalf("open with a bad record: %v", err)
	}
	if logs.FilterMessage("some api keys could not be loaded").Len() != 1 {
		t.Fatalf("logs %v", logs.All())
	}
}
