package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Instances that share a backend learn each other's changes from a change log:
// every write of a record also writes an empty marker
// api_gateway/key_changes/<unix nanoseconds>_<id>. Refresh lists that folder (small:
// markers older than ChangeRetention are pruned) and reloads the ids it has not
// seen, so a refresh costs one listing, not a read of every record. A full Load now
// and then heals anything a refresh missed.
const (
	ChangesPrefix = "api_gateway/key_changes"

	// ChangeRetention is how long change markers are kept.
	ChangeRetention = time.Hour
)

func changeName(now time.Time, id string) string {
	return path.Join(ChangesPrefix, strconv.FormatInt(now.UnixNano(), 10)+"_"+id)
}

// recordChange writes the change marker for id. A failure only delays other
// instances until their next full load, so it is reported but not fatal.
func (s *Store) recordChange(ctx context.Context, id string, now time.Time) error {
	name := changeName(now, id)
	s.mu.Lock()
	s.seen[path.Base(name)] = now
	s.mu.Unlock()
	return s.backend.Store(ctx, name, nil)
}

// Refresh reloads the records other instances changed since the last refresh
// and returns their ids. It also prunes change markers older than
// ChangeRetention.
func (s *Store) Refresh(ctx context.Context, now time.Time) ([]string, error) {
	names, err := s.backend.List(ctx, ChangesPrefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing key changes: %w", err)
	}
	var changed []string
	var errs []error
	current := make(map[string]bool, len(names))
	for _, name := range names {
		base := path.Base(name)
		current[base] = true
		ts, id, ok := strings.Cut(base, "_")
		nanos, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil || !ValidID(id) {
			continue
		}
		at := time.Unix(0, nanos)
		if now.Sub(at) > ChangeRetention {
			_ = s.backend.Delete(ctx, path.Join(ChangesPrefix, base))
			continue
		}
		s.mu.RLock()
		_, seen := s.seen[base]
		s.mu.RUnlock()
		if seen {
			continue
		}
		if err := s.Reload(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		s.seen[base] = at
		s.mu.Unlock()
		changed = append(changed, id)
	}
	// Forget markers that are gone, so the set stays as small as the folder.
	s.mu.Lock()
	for base := range s.seen {
		if !current[base] {
			delete(s.seen, base)
		}
	}
	s.mu.Unlock()
	return changed, errors.Join(errs...)
}
