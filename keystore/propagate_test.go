package keystore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// cluster returns two stores sharing one storage, as two gateways do, and a
// propagator for the second on a fixed clock.
func cluster(t *testing.T, policy Policy, now time.Time) (a, b *Store, p *Propagator, logs *observer.ObservedLogs) {
	t.Helper()
	dir := t.TempDir()
	a = New(&certmagic.FileStorage{Path: dir}, policy)
	b = New(&certmagic.FileStorage{Path: dir}, policy)
	core, logs := observer.New(zapcore.DebugLevel)
	return a, b, &Propagator{Store: b, Logger: zap.New(core), Now: func() time.Time { return now }}, logs
}

// TestPropagatorRefresh: a refresh reloads what another gateway changed and
// sends the scheduled events that are due.
func TestPropagatorRefresh(t *testing.T) {
	ctx := context.Background()
	now := t0
	a, b, p, logs := cluster(t, Policy{WarnBefore: 48 * time.Hour}, now)
	var log eventLog
	b.OnEvent(log.add)
	rec, key := mustCreate(t, a, CreateRequest{Consumer: "c", TTL: 24 * time.Hour}, now.Add(-time.Second))
	if _, res := b.Authenticate(key, now); res != Unknown {
		t.Fatalf("before the refresh: %v", res)
	}
	p.refresh(ctx, 1, now)
	if _, res := b.Authenticate(key, now); res != Accepted {
		t.Fatalf("after the refresh: %v", res)
	}
	if got := log.types(); len(got) != 1 || got[0] != EventExpiring || log.events[0].Data["id"] != rec.ID {
		t.Fatalf("events %v, want one key.expiring", got)
	}
	if logs.FilterMessage("api keys changed elsewhere").Len() != 1 {
		t.Fatalf("logs %v", logs.All())
	}
}

// TestPropagatorFullResync: every fullResyncEvery refreshes reload every
// record (healing a change the change log missed) and write a snapshot,
// unless a recent one exists.
func TestPropagatorFullResync(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	a, b, p, _ := cluster(t, Policy{}, now)
	_, key := mustCreate(t, a, CreateRequest{Consumer: "c"}, now)
	// The change log lost the marker: only a full load finds the key.
	if err := a.backend.Delete(ctx, ChangesPrefix); err != nil {
		t.Fatal(err)
	}
	p.refresh(ctx, 1, now)
	if _, res := b.Authenticate(key, now); res != Unknown {
		t.Fatalf("a refresh found a key the change log lost: %v", res)
	}
	p.refresh(ctx, fullResyncEvery, now)
	if _, res := b.Authenticate(key, now); res != Accepted {
		t.Fatalf("after the full resync: %v", res)
	}
	if age := b.SnapshotAge(ctx, now); age != 0 {
		t.Fatalf("snapshot age %v after the full resync, want a new one", age)
	}
	// A snapshot younger than half a resync period is not written again.
	later := now.Add(p.interval() * fullResyncEvery / 4)
	p.Now = func() time.Time { return later }
	p.refresh(ctx, 2*fullResyncEvery, later)
	if age := b.SnapshotAge(ctx, later); age != later.Sub(now) {
		t.Fatalf("snapshot age %v: rewritten too soon", age)
	}
}

// TestPropagatorStartWritesSnapshot: started after a full load, the
// propagator writes the snapshot the next start reads; Stop ends its work and
// may be called again.
func TestPropagatorStartWritesSnapshot(t *testing.T) {
	ctx := context.Background()
	now := t0
	a, _, p, _ := cluster(t, Policy{}, now)
	mustCreate(t, a, CreateRequest{Consumer: "c"}, now)
	p.Store = a
	p.Refresh = time.Hour
	p.Start(now)
	waitUntil(t, "the snapshot", func() bool { return a.SnapshotAge(ctx, now) == 0 })
	p.Stop()
	p.Stop()
	var never Propagator
	never.Stop()
}

// TestPropagatorRedis: a change published by one gateway reaches another
// through Redis long before its refresh.
func TestPropagatorRedis(t *testing.T) {
	client := startRedis(t)
	a, b, pb, _ := cluster(t, Policy{}, t0)
	pa := &Propagator{Store: a, Redis: client, Logger: zap.NewNop(), Refresh: time.Hour}
	pb.Redis, pb.Refresh = client, time.Hour
	a.SetHooks(pa, nil, pa.Publish)
	pb.Start(time.Time{})
	defer pb.Stop()
	// Wait for the subscription: publish until b has a key created after it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, key := mustCreate(t, a, CreateRequest{Consumer: "c"}, t0)
		reached := func() bool { _, res := b.Authenticate(key, t0); return res == Accepted }
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end) && !reached(); {
			time.Sleep(10 * time.Millisecond)
		}
		if reached() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a change published through Redis did not reach the other gateway in 10s")
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 10s", what)
		}
	}
}

// startRedis runs a redis-server on a free port for the test: skipped when
// none is installed, except under CI=true.
func startRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	waitUntil(t, fmt.Sprintf("redis-server on %s", addr), func() bool { return client.Ping(context.Background()).Err() == nil })
	return client
}
