package keystore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Type)
	}
	return out
}

func TestChangeEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, Policy{Grace: time.Hour})
	var log eventLog
	s.OnEvent(log.add)
	rec, key := mustCreate(t, s, CreateRequest{Consumer: "c", Scopes: []string{"x"}}, t0)
	fresh, _, _, err := s.Rotate(ctx, rec.ID, -1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Revoke(ctx, fresh.ID, WithSuccessors, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := log.types()
	want := []string{EventCreated, EventRotated, EventRevoked}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	rot := log.events[1]
	if rot.Data["id"] != rec.ID || rot.Data["new_id"] != fresh.ID || rot.Data["consumer"] != "c" || rot.Data["grace_until"] == nil {
		t.Fatalf("rotated event data %v", rot.Data)
	}
	_, secret, _ := ParseKey(DefaultPrefix, key)
	for _, e := range log.events {
		for k, v := range e.Data {
			if s, ok := v.(string); ok && (s == key || s == secret || len(s) == 64) {
				t.Errorf("%s event field %s holds a secret or hash", e.Type, k)
			}
		}
		if _, ok := e.Data["hash"]; ok {
			t.Errorf("%s event has a hash", e.Type)
		}
	}
}

func TestNotifyScheduledEventsOncePerCluster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	policy := Policy{WarnBefore: 24 * time.Hour, MaxAge: 30 * 24 * time.Hour}
	a := New(&certmagic.FileStorage{Path: dir}, policy)
	b := New(&certmagic.FileStorage{Path: dir}, policy)
	var la, lb eventLog
	a.OnEvent(la.add)
	b.OnEvent(lb.add)

	expiring, _ := mustCreate(t, a, CreateRequest{Consumer: "short", TTL: 48 * time.Hour}, t0)
	old, _ := mustCreate(t, a, CreateRequest{Consumer: "old"}, t0)
	mustCreate(t, a, CreateRequest{Consumer: "forever"}, t0.Add(29*24*time.Hour))
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	la.events = nil

	// Nothing is due a day in.
	if n, err := a.Notify(ctx, t0.Add(23*time.Hour)); n != 0 || err != nil {
		t.Fatalf("early: %d %v", n, err)
	}
	// A day before expiry: key.expiring for the short key, from one instance only.
	at := t0.Add(25 * time.Hour)
	na, err := a.Notify(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := b.Notify(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if na+nb != 1 || len(la.events)+len(lb.events) != 1 {
		t.Fatalf("expiring sent %d+%d times", na, nb)
	}
	e := la.events[0]
	if e.Type != EventExpiring || e.Data["id"] != expiring.ID || e.Data["reason"] != "expires_at" {
		t.Fatalf("event %+v", e)
	}
	// Again: nothing.
	if n, _ := a.Notify(ctx, at.Add(time.Hour)); n != 0 {
		t.Fatalf("expiring sent again: %d", n)
	}
	if n, _ := b.Notify(ctx, at.Add(time.Hour)); n != 0 {
		t.Fatalf("expiring sent again by b: %d", n)
	}
	// After expiry: key.expired, once, racing both instances.
	at = t0.Add(49 * time.Hour)
	var wg sync.WaitGroup
	var total int
	var mu sync.Mutex
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Notify(ctx, at)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 1 {
		t.Fatalf("expired sent %d times", total)
	}
	// max_age: the old key is warned a day before it turns 30 days old.
	la.events, lb.events = nil, nil
	at = t0.Add(29*24*time.Hour + time.Hour)
	a.Notify(ctx, at) //nolint:errcheck
	b.Notify(ctx, at) //nolint:errcheck
	all := append(la.events, lb.events...)
	if len(all) != 1 || all[0].Data["id"] != old.ID || all[0].Data["reason"] != "max_age" {
		t.Fatalf("max_age warning: %+v", all)
	}
}

func TestRefreshPicksUpChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := New(&certmagic.FileStorage{Path: dir}, Policy{})
	b := New(&certmagic.FileStorage{Path: dir}, Policy{})
	rec, key := mustCreate(t, a, CreateRequest{Consumer: "c"}, t0)
	changed, err := b.Refresh(ctx, time.Now())
	if err != nil || len(changed) != 1 || changed[0] != rec.ID {
		t.Fatalf("refresh: %v %v", changed, err)
	}
	if _, res := b.Authenticate(key, t0); res != Accepted {
		t.Fatalf("b after refresh: %v", res)
	}
	// A second refresh has nothing new; a's own changes are not reloaded by a.
	if changed, _ := b.Refresh(ctx, time.Now()); len(changed) != 0 {
		t.Fatalf("second refresh: %v", changed)
	}
	if changed, _ := a.Refresh(ctx, time.Now()); len(changed) != 0 {
		t.Fatalf("a reloaded its own change: %v", changed)
	}
	if _, _, err := a.Revoke(ctx, rec.ID, WithSuccessors, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Refresh(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, res := b.Authenticate(key, t0); res != Revoked {
		t.Fatalf("b after revoke: %v", res)
	}
	// Markers are pruned after ChangeRetention.
	if _, err := b.Refresh(ctx, time.Now().Add(ChangeRetention+time.Minute)); err != nil {
		t.Fatal(err)
	}
	names, _ := a.backend.List(ctx, ChangesPrefix, false)
	if len(names) != 0 {
		t.Fatalf("markers left: %v", names)
	}
}

// TestHooksHandOver: a reload hands the hooks to the new owner; if the new
// config fails and clears its hooks, the running config's hooks apply again.
func TestHooksHandOver(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	var oldLog, newLog eventLog
	oldOwner, newOwner := new(int), new(int)
	s.SetHooks(oldOwner, oldLog.add, nil)
	s.SetHooks(newOwner, newLog.add, nil)
	mustCreate(t, s, CreateRequest{Consumer: "a"}, t0)
	s.ClearHooks(newOwner)
	mustCreate(t, s, CreateRequest{Consumer: "b"}, t0)
	s.ClearHooks(oldOwner)
	mustCreate(t, s, CreateRequest{Consumer: "c"}, t0)
	if len(newLog.events) != 1 || len(oldLog.events) != 1 || oldLog.events[0].Data["consumer"] != "b" {
		t.Fatalf("new owner got %d events, old owner %v", len(newLog.events), oldLog.types())
	}
}
