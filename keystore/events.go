package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The key events. Each is emitted once per change, by the instance that made
// it; key.expiring and key.expired once per cluster (see Store.Notify).
const (
	EventCreated  = "key.created"
	EventRotated  = "key.rotated"
	EventRevoked  = "key.revoked"
	EventExpiring = "key.expiring"
	EventExpired  = "key.expired"
)

// Event is something that happened to a key. Data never holds a key, a secret
// or a hash.
type Event struct {
	Type string
	Time time.Time
	Data map[string]any
}

// eventData describes a record for an event.
func eventData(r Record) map[string]any {
	d := map[string]any{
		"id":         r.ID,
		"consumer":   r.Consumer,
		"scopes":     append([]string{}, r.Scopes...),
		"created_at": r.CreatedAt.UTC().Format(time.RFC3339),
	}
	if r.Description != "" {
		d["description"] = r.Description
	}
	if !r.ExpiresAt.IsZero() {
		d["expires_at"] = r.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if r.RotatedFrom != "" {
		d["rotated_from"] = r.RotatedFrom
	}
	if r.RotatedTo != "" {
		d["rotated_to"] = r.RotatedTo
	}
	if !r.RevokedAt.IsZero() {
		d["revoked_at"] = r.RevokedAt.UTC().Format(time.RFC3339)
	}
	return d
}

// OnEvent sets the function that receives the store's events. It is called
// synchronously after the change is stored, so it must not block.
func (s *Store) OnEvent(f func(Event)) { s.SetHooks(nil, f, nil) }

// SetHooks sets, on behalf of owner, the functions that receive the store's
// events and the ids of the records this instance changed. Both are called
// synchronously and must not block. A store shared across config reloads is
// handed from one owner to the next: the hooks of the latest owner are used,
// and when it clears them (a failed reload) those of the owner before it apply
// again.
func (s *Store) SetHooks(owner any, onEvent func(Event), onChange func(id string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeHooks(owner)
	s.hooks = append(s.hooks, hookSet{owner, onEvent, onChange})
	s.applyHooks()
}

// ClearHooks removes the hooks owner set.
func (s *Store) ClearHooks(owner any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeHooks(owner)
	s.applyHooks()
}

type hookSet struct {
	owner    any
	onEvent  func(Event)
	onChange func(id string)
}

func (s *Store) removeHooks(owner any) {
	kept := s.hooks[:0]
	for _, h := range s.hooks {
		if h.owner != owner {
			kept = append(kept, h)
		}
	}
	s.hooks = kept
}

func (s *Store) applyHooks() {
	s.onEvent, s.onChange = nil, nil
	if n := len(s.hooks); n > 0 {
		s.onEvent, s.onChange = s.hooks[n-1].onEvent, s.hooks[n-1].onChange
	}
}

func (s *Store) changed(id string) {
	s.mu.RLock()
	f := s.onChange
	s.mu.RUnlock()
	if f != nil {
		f(id)
	}
}

func (s *Store) emit(typ string, now time.Time, r Record, extra map[string]any) {
	s.mu.RLock()
	f := s.onEvent
	s.mu.RUnlock()
	if f == nil {
		return
	}
	d := eventData(r)
	for k, v := range extra {
		d[k] = v
	}
	f(Event{Type: typ, Time: now.UTC(), Data: d})
}

// deadline returns when the key stops being usable or becomes deprecated by
// max_age, whichever is first, and which it is.
func deadline(r Record, maxAge time.Duration) (time.Time, string) {
	var at time.Time
	reason := ""
	if !r.ExpiresAt.IsZero() {
		at, reason = r.ExpiresAt, "expires_at"
	}
	if maxAge > 0 && r.RotatedTo == "" {
		if m := r.CreatedAt.Add(maxAge); at.IsZero() || m.Before(at) {
			at, reason = m, "max_age"
		}
	}
	return at, reason
}

// due reports which scheduled event, if any, is due for r at now.
func due(r Record, p Policy, now time.Time) string {
	if !r.RevokedAt.IsZero() {
		return ""
	}
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		if r.ExpiredNotifiedAt.IsZero() {
			return EventExpired
		}
		return ""
	}
	if p.WarnBefore <= 0 || !r.ExpiringNotifiedAt.IsZero() {
		return ""
	}
	if at, _ := deadline(r, p.MaxAge); !at.IsZero() && !now.Before(at.Add(-p.WarnBefore)) {
		return EventExpiring
	}
	return ""
}

// Notify emits the scheduled events due at now: key.expiring (warn_before ahead
// of expires_at, or of created_at + max_age) and key.expired. Each goes out once
// per cluster: the record is re-read and marked under its storage lock before the
// event is emitted, so instances sharing a storage never send it twice. It
// returns how many events it emitted.
func (s *Store) Notify(ctx context.Context, now time.Time) (int, error) {
	p := s.Policy()
	s.mu.RLock()
	var candidates []string
	for id, e := range s.entries {
		if due(e.Record, p, now) != "" {
			candidates = append(candidates, id)
		}
	}
	s.mu.RUnlock()

	sent := 0
	var errs []error
	for _, id := range candidates {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		ok, err := s.notifyOne(ctx, id, p, now)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			sent++
		}
	}
	return sent, errors.Join(errs...)
}

func (s *Store) notifyOne(ctx context.Context, id string, p Policy, now time.Time) (bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.backend.Lock(ctx, lockName(id)); err != nil {
		return false, fmt.Errorf("locking key %s: %w", id, err)
	}
	defer s.backend.Unlock(context.WithoutCancel(ctx), lockName(id)) //nolint:errcheck
	rec, err := s.current(ctx, id)
	if err != nil {
		return false, err
	}
	typ := due(rec, p, now)
	extra := map[string]any{}
	switch typ {
	case EventExpired:
		rec.ExpiredNotifiedAt = now.UTC()
	case EventExpiring:
		at, reason := deadline(rec, p.MaxAge)
		extra["deadline"] = at.UTC().Format(time.RFC3339)
		extra["reason"] = reason
		rec.ExpiringNotifiedAt = now.UTC()
	default:
		// Another instance sent it already: take its record.
		s.index(rec)
		return false, nil
	}
	if err := s.put(ctx, rec); err != nil {
		return false, err
	}
	s.emit(typ, now, rec, extra)
	return true, nil
}

// index puts a record read from the backend into the index.
func (s *Store) index(rec Record) {
	if e, err := newEntry(rec, s.Policy().MaxAge); err == nil {
		s.mu.Lock()
		s.entries[rec.ID] = e
		s.mu.Unlock()
	}
}
