package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// TestRotationNeverExtendsExpiry: the new key inherits the old key's
// expires_at, and the old key's grace never outlives it.
func TestRotationNeverExtendsExpiry(t *testing.T) {
	tests := []struct {
		name      string
		ttl       time.Duration
		rotateAt  time.Duration // after creation
		grace     time.Duration
		wantNew   time.Duration // after t0; 0: no expiry
		wantOld   time.Duration // after t0
		wantGrace Status        // the old key's status right after the rotation
	}{
		{"grace ends before expiry", 10 * time.Hour, 5 * time.Hour, time.Hour, 10 * time.Hour, 6 * time.Hour, StatusGrace},
		{"grace cut at expiry", 10 * time.Hour, 5 * time.Hour, 48 * time.Hour, 10 * time.Hour, 10 * time.Hour, StatusGrace},
		{"rotated a second before expiry", 10 * time.Hour, 10*time.Hour - time.Second, 48 * time.Hour, 10 * time.Hour, 10 * time.Hour, StatusGrace},
		{"no expiry stays without expiry", 0, 5 * time.Hour, 48 * time.Hour, 0, 53 * time.Hour, StatusGrace},
		{"zero grace ends the old key at once", 10 * time.Hour, time.Hour, 0, 10 * time.Hour, time.Hour, StatusExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, Policy{Grace: 168 * time.Hour})
			old, _ := mustCreate(t, s, CreateRequest{Consumer: "c", TTL: tt.ttl}, t0)
			at := t0.Add(tt.rotateAt)
			fresh, prev, _, err := s.Rotate(context.Background(), old.ID, tt.grace, at)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNew == 0 && !fresh.ExpiresAt.IsZero() {
				t.Errorf("new key expires at %v, want no expiry", fresh.ExpiresAt)
			}
			if tt.wantNew != 0 && !fresh.ExpiresAt.Equal(t0.Add(tt.wantNew)) {
				t.Errorf("new key expires at %v, want %v", fresh.ExpiresAt, t0.Add(tt.wantNew))
			}
			if !prev.ExpiresAt.Equal(t0.Add(tt.wantOld)) {
				t.Errorf("old key expires at %v, want %v", prev.ExpiresAt, t0.Add(tt.wantOld))
			}
			if st := prev.StatusAt(at); st != tt.wantGrace {
				t.Errorf("old key is %s, want %s", st, tt.wantGrace)
			}
		})
	}
}

// TestSelfRotationChain: a short-lived key that keeps rotating itself keeps its
// one end, and never more than two keys of the chain work at once.
func TestSelfRotationChain(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, Policy{Grace: 168 * time.Hour})
	first, firstKey := mustCreate(t, s, CreateRequest{Consumer: "c", TTL: time.Hour}, t0)
	end := t0.Add(time.Hour)
	ids, keys := []string{first.ID}, []string{firstKey}
	for i := 1; i <= 50; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		fresh, _, key, err := s.Rotate(ctx, ids[len(ids)-1], -1, now)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if !fresh.ExpiresAt.Equal(end) {
			t.Fatalf("rotation %d moved the expiry to %v", i, fresh.ExpiresAt)
		}
		ids, keys = append(ids, fresh.ID), append(keys, key)
		live := 0
		for _, k := range keys {
			if _, res := s.Authenticate(k, now); res == Accepted {
				live++
			}
		}
		if want := 2; live != want {
			t.Fatalf("after rotation %d, %d keys work, want %d", i, live, want)
		}
		// Every earlier key is in grace or done: none of them rotates again.
		for _, id := range ids[:len(ids)-1] {
			if _, _, _, err := s.Rotate(ctx, id, -1, now); !errors.Is(err, ErrConflict) {
				t.Fatalf("rotation %d: key %s rotated again: %v", i, id, err)
			}
		}
	}
	for i, k := range keys {
		if _, res := s.Authenticate(k, end); res != Expired {
			t.Fatalf("key %d at the first key's expiry: %v", i, res)
		}
	}
}

func TestRotatingAKeyInGrace(t *testing.T) {
	s, _ := newTestStore(t, Policy{Grace: time.Hour})
	old, _ := mustCreate(t, s, CreateRequest{Consumer: "c"}, t0)
	fresh, _, _, err := s.Rotate(context.Background(), old.ID, -1, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = s.Rotate(context.Background(), old.ID, -1, t0.Add(time.Minute))
	if !errors.Is(err, ErrRotated) || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), fresh.ID) {
		t.Fatalf("err = %v, want ErrRotated naming %s", err, fresh.ID)
	}
	// After its grace the key is expired, no longer "rotated".
	_, _, _, err = s.Rotate(context.Background(), old.ID, -1, t0.Add(2*time.Hour))
	if errors.Is(err, ErrRotated) || !errors.Is(err, ErrConflict) {
		t.Fatalf("err after grace = %v", err)
	}
}

// chain creates a key and rotates it n times a minute apart (grace 24h); it
// returns the ids and keys, oldest first, and the time of the last rotation.
func chain(t *testing.T, s *Store, n int) ([]string, []string, time.Time) {
	t.Helper()
	rec, key := mustCreate(t, s, CreateRequest{Consumer: "c"}, t0)
	ids, keys := []string{rec.ID}, []string{key}
	now := t0
	for i := 0; i < n; i++ {
		now = now.Add(time.Minute)
		fresh, _, k, err := s.Rotate(context.Background(), ids[len(ids)-1], 24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		ids, keys = append(ids, fresh.ID), append(keys, k)
	}
	return ids, keys, now
}

func TestRevokeFollowsRotations(t *testing.T) {
	tests := []struct {
		name    string
		length  int // rotations
		revoke  int // index in the chain
		cascade Cascade
		// want[i]: the result for key i after the revocation.
		want        []Result
		wantRevoked []int // the successors the call reports
	}{
		{"original takes its successor", 1, 0, WithSuccessors, []Result{Revoked, Revoked}, []int{1}},
		{"original takes the whole chain", 3, 0, WithSuccessors, []Result{Revoked, Revoked, Revoked, Revoked}, []int{1, 2, 3}},
		{"middle takes what follows, not what precedes", 3, 2, WithSuccessors, []Result{Expired, Expired, Revoked, Revoked}, []int{3}},
		{"successor leaves the key in grace", 1, 1, WithSuccessors, []Result{Accepted, Revoked}, nil},
		{"key only keeps the successor", 1, 0, KeyOnly, []Result{Revoked, Accepted}, nil},
		{"key only in a chain", 3, 2, KeyOnly, []Result{Expired, Expired, Revoked, Accepted}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, Policy{})
			var log eventLog
			s.OnEvent(log.add)
			ids, keys, now := chain(t, s, tt.length)
			now = now.Add(time.Minute)
			rec, revoked, err := s.Revoke(context.Background(), ids[tt.revoke], tt.cascade, now)
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID != ids[tt.revoke] || rec.StatusAt(now) != StatusRevoked {
				t.Fatalf("returned %+v", rec)
			}
			var want []string
			for _, i := range tt.wantRevoked {
				want = append(want, ids[i])
			}
			if !slices.Equal(revoked, want) {
				t.Errorf("revoked successors %v, want %v", revoked, want)
			}
			for i, k := range keys {
				if _, res := s.Authenticate(k, now); res != tt.want[i] {
					t.Errorf("key %d: %v, want %v", i, res, tt.want[i])
				}
			}
			// One key.revoked per revoked key; successors name the cause.
			var events []Event
			for _, e := range log.events {
				if e.Type == EventRevoked {
					events = append(events, e)
				}
			}
			if len(events) != 1+len(want) {
				t.Fatalf("%d key.revoked events, want %d", len(events), 1+len(want))
			}
			if events[0].Data["id"] != ids[tt.revoke] || events[0].Data["revoked_with"] != nil {
				t.Errorf("first key.revoked %v", events[0].Data)
			}
			for i, e := range events[1:] {
				if e.Data["id"] != want[i] || e.Data["revoked_with"] != ids[tt.revoke] {
					t.Errorf("key.revoked %d: %v", i+1, e.Data)
				}
			}
		})
	}
}

// TestRevokeAgainTakesSuccessors: a key revoked alone can be revoked again to
// end its successors; nothing is revoked twice.
func TestRevokeAgainTakesSuccessors(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, Policy{})
	var log eventLog
	s.OnEvent(log.add)
	ids, keys, now := chain(t, s, 2)
	if _, _, err := s.Revoke(ctx, ids[0], KeyOnly, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Revoke(ctx, ids[2], KeyOnly, now); err != nil {
		t.Fatal(err)
	}
	_, revoked, err := s.Revoke(ctx, ids[0], WithSuccessors, now.Add(time.Second))
	if err != nil || !slices.Equal(revoked, ids[1:2]) {
		t.Fatalf("revoked %v, %v; want %v", revoked, err, ids[1:2])
	}
	for i, k := range keys {
		if _, res := s.Authenticate(k, now.Add(time.Second)); res != Revoked {
			t.Errorf("key %d: %v", i, res)
		}
	}
	n := 0
	for _, e := range log.events {
		if e.Type == EventRevoked {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d key.revoked events, want 3", n)
	}
}

// TestRevokeStopsAtABrokenChain: a record whose rotated_to names a key that was
// not rotated from it (damaged storage) does not revoke that key.
func TestRevokeStopsAtABrokenChain(t *testing.T) {
	ctx := context.Background()
	s, dir := newTestStore(t, Policy{})
	a, _ := mustCreate(t, s, CreateRequest{Consumer: "a"}, t0)
	_, otherKey := mustCreate(t, s, CreateRequest{Consumer: "b"}, t0)
	otherID, _, _ := ParseKey(DefaultPrefix, otherKey)
	backend := &certmagic.FileStorage{Path: dir}
	stored, err := s.loadRecord(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.RotatedTo = otherID
	data, _ := json.Marshal(stored)
	if err := backend.Store(ctx, recordPath(a.ID), data); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, revoked, err := s.Revoke(ctx, a.ID, WithSuccessors, t0); err != nil || len(revoked) != 0 {
		t.Fatalf("revoked %v, %v", revoked, err)
	}
	if _, res := s.Authenticate(otherKey, t0); res != Accepted {
		t.Fatalf("unrelated key: %v", res)
	}
}

// TestRevocationCascadeReachesOtherInstances: every key the cascade revokes is
// in the change log, so another instance refuses them after a refresh.
func TestRevocationCascadeReachesOtherInstances(t *testing.T) {
	ctx := context.Background()
	a, dir := newTestStore(t, Policy{})
	ids, keys, now := chain(t, a, 2)
	b := New(&certmagic.FileStorage{Path: dir}, Policy{})
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, res := b.Authenticate(keys[2], now); res != Accepted {
		t.Fatalf("b before: %v", res)
	}
	if _, _, err := a.Revoke(ctx, ids[0], WithSuccessors, now); err != nil {
		t.Fatal(err)
	}
	changed, err := b.Refresh(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !slices.Contains(changed, id) {
			t.Errorf("b did not reload %s (changed %v)", id, changed)
		}
	}
	for i, k := range keys {
		if _, res := b.Authenticate(k, now); res != Revoked {
			t.Errorf("b, key %d: %v", i, res)
		}
	}
}
