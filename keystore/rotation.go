package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Rotation and revocation: a key's life has one end. A rotation never moves
// the expiry, ends the grace of the key before it, and a revocation takes the
// keys a key was rotated into.

// Rotate issues a new key for the consumer, scopes and allowed IPs of key id, and
// gives the old key until now+grace or its own expiry, whichever is sooner.
// grace < 0 means the policy's grace. The new key inherits the old key's
// expires_at, so rotating never lengthens a key's life. Only an active key
// rotates: a key in grace gets ErrRotated, a revoked or expired one ErrConflict.
// Rotating a key ends the grace of the key it was rotated from, so at most two
// keys of a rotation chain work at any time.
func (s *Store) Rotate(ctx context.Context, id string, grace time.Duration, now time.Time) (newRec, oldRec Record, key string, err error) {
	if !ValidID(id) {
		return Record{}, Record{}, "", ErrNotFound
	}
	if grace < 0 {
		grace = s.Policy().Grace
	}
	if grace > MaxTTL {
		return Record{}, Record{}, "", invalid("grace must be at most %s", MaxTTL)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	pred, unlock, err := s.lockChain(ctx, id)
	if err != nil {
		return Record{}, Record{}, "", err
	}
	defer unlock()

	old, err := s.current(ctx, id)
	if err != nil {
		return Record{}, Record{}, "", err
	}
	switch st := old.StatusAt(now); st {
	case StatusActive:
	case StatusGrace:
		return Record{}, Record{}, "", fmt.Errorf("%w; rotate %s, the key it was rotated into", ErrRotated, old.RotatedTo)
	default:
		return Record{}, Record{}, "", fmt.Errorf("%w: key is %s", ErrConflict, st)
	}
	now = now.UTC()
	// The predecessor's grace ends before the new key exists: if anything
	// below fails, no extra key is left working.
	if pred != "" {
		if err := s.endGrace(ctx, pred, id, now); err != nil {
			return Record{}, Record{}, "", err
		}
	}
	fresh := old.successor(now)
	key, err = s.issue(ctx, &fresh)
	if err != nil {
		return Record{}, Record{}, "", err
	}
	old.RotatedTo = fresh.ID
	old.RotatedAt = now
	if end := now.Add(grace); old.ExpiresAt.IsZero() || end.Before(old.ExpiresAt) {
		old.ExpiresAt = end
	}
	if err := s.put(ctx, old); err != nil {
		// Do not leave a second live key behind if the old one could not be
		// marked as rotated.
		s.remove(ctx, fresh.ID)
		return Record{}, Record{}, "", err
	}
	s.emit(EventRotated, now, old, map[string]any{"new_id": fresh.ID, "grace_until": old.ExpiresAt.UTC().Format(time.RFC3339)})
	return fresh.Public(), old.Public(), key, nil
}

// endGrace expires key id at now if it is in the grace of its rotation into
// successor. The caller holds writeMu and the lock of id.
func (s *Store) endGrace(ctx context.Context, id, successor string, now time.Time) error {
	rec, err := s.current(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.RotatedTo != successor || rec.StatusAt(now) != StatusGrace {
		return nil
	}
	rec.ExpiresAt = now
	if err := s.put(ctx, rec); err != nil {
		return fmt.Errorf("ending the grace of key %s: %w", id, err)
	}
	return nil
}

func (s *Store) remove(ctx context.Context, id string) {
	_ = s.backend.Delete(ctx, recordPath(id))
	s.mu.Lock()
	delete(s.entries, id)
	s.mu.Unlock()
}

// Cascade says whether a revocation follows the rotation chain.
type Cascade bool

// The two kinds of revocation.
const (
	// WithSuccessors revokes the key and every key it was rotated into, so a
	// key rotated by whoever stole it dies with it. It is the default.
	WithSuccessors Cascade = true
	// KeyOnly revokes the key alone; its successors keep working.
	KeyOnly Cascade = false
)

// Revoke ends key id at now and, WithSuccessors, every key it was rotated into
// (following rotated_to). The keys it was rotated from are left as they are.
// Each key newly revoked emits key.revoked. Revoking a revoked key changes
// nothing but still revokes its successors. It returns the record of id and the
// ids of the successors this call revoked.
func (s *Store) Revoke(ctx context.Context, id string, cascade Cascade, now time.Time) (Record, []string, error) {
	if !ValidID(id) {
		return Record{}, nil, ErrNotFound
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	rec, _, err := s.revokeOne(ctx, id, "", "", now)
	if err != nil {
		return Record{}, nil, err
	}
	if cascade == KeyOnly {
		return rec.Public(), nil, nil
	}
	var revoked []string
	seen := map[string]bool{id: true}
	for prev, next := id, rec.RotatedTo; next != "" && ValidID(next) && !seen[next]; {
		seen[next] = true
		r, changed, err := s.revokeOne(ctx, next, prev, id, now)
		if errors.Is(err, errNotSuccessor) || errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			// The caller may retry: revoked keys are passed over.
			return rec.Public(), revoked, fmt.Errorf("revoking key %s, rotated from %s: %w", next, prev, err)
		}
		if changed {
			revoked = append(revoked, next)
		}
		prev, next = next, r.RotatedTo
	}
	return rec.Public(), revoked, nil
}

// errNotSuccessor stops a cascade at a record that does not name the previous
// key as its rotated_from (a damaged chain must not revoke unrelated keys).
var errNotSuccessor = errors.New("not the successor")

// revokeOne revokes key id under its lock and reports whether it changed it.
// With from set, id must have been rotated from it; cause is then the key whose
// revocation this follows.
func (s *Store) revokeOne(ctx context.Context, id, from, cause string, now time.Time) (Record, bool, error) {
	if err := s.backend.Lock(ctx, lockName(id)); err != nil {
		return Record{}, false, fmt.Errorf("locking key %s: %w", id, err)
	}
	defer s.backend.Unlock(context.WithoutCancel(ctx), lockName(id)) //nolint:errcheck

	rec, err := s.current(ctx, id)
	if err != nil {
		return Record{}, false, err
	}
	if from != "" && rec.RotatedFrom != from {
		return Record{}, false, errNotSuccessor
	}
	if !rec.RevokedAt.IsZero() {
		return rec, false, nil
	}
	rec.RevokedAt = now.UTC()
	if err := s.put(ctx, rec); err != nil {
		return Record{}, false, err
	}
	var extra map[string]any
	if cause != "" {
		extra = map[string]any{"revoked_with": cause}
	}
	s.emit(EventRevoked, now, rec, extra)
	return rec, true, nil
}

func dedupe(in []string) []string {
	var out []string
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// lockChain takes the storage locks of key id and of the key it was rotated
// from, and returns that predecessor ("" for none) and the release. rotated_from
// never changes once written, so it can be read before the locks. Locks are
// taken in chain order, predecessor first; no other operation holds two key
// locks, so instances cannot deadlock.
func (s *Store) lockChain(ctx context.Context, id string) (pred string, unlock func(), err error) {
	first, err := s.current(ctx, id)
	if err != nil {
		return "", nil, err
	}
	pred = first.RotatedFrom
	if pred == id || !ValidID(pred) {
		pred = "" // a damaged record: there is no predecessor to lock
	}
	var held []string
	unlock = func() {
		for i := len(held) - 1; i >= 0; i-- {
			_ = s.backend.Unlock(context.WithoutCancel(ctx), lockName(held[i]))
		}
	}
	for _, k := range []string{pred, id} {
		if k == "" {
			continue
		}
		if err := s.backend.Lock(ctx, lockName(k)); err != nil {
			unlock()
			return "", nil, fmt.Errorf("locking key %s: %w", k, err)
		}
		held = append(held, k)
	}
	return pred, unlock, nil
}

// successor is the record of the key old rotates into at now: the same
// consumer, scopes, addresses, description and metadata, and old's expiry, so
// a rotation never lengthens a key's life.
func (old Record) successor(now time.Time) Record {
	return Record{
		Consumer:    old.Consumer,
		Scopes:      old.Scopes,
		AllowedIPs:  old.AllowedIPs,
		Description: old.Description,
		Metadata:    old.Metadata,
		CreatedAt:   now,
		ExpiresAt:   old.ExpiresAt,
		RotatedFrom: old.ID,
	}
}
