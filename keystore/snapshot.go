package keystore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A snapshot is every record in one file, so that a start reads one file
// instead of one per key (100,000 opens cost seconds on most file systems).
// The per-key files stay the system of record: a snapshot is written right
// after a full load from them, and a start from a snapshot also applies every
// change marker written since (minus a margin), so it misses nothing the change
// log knows. Snapshots older than maxSnapshotAge are not used.
const (
	SnapshotPath = "api_gateway/keys_snapshot.json"

	maxSnapshotAge = ChangeRetention / 2
	snapshotMargin = time.Minute
)

type snapshot struct {
	WrittenAt time.Time `json:"written_at"`
	Records   []Record  `json:"records"`
}

// snapshotMeta is a small file beside the snapshot with its time, so instances
// can tell whether a new snapshot is due without reading the big one.
const snapshotMeta = "api_gateway/keys_snapshot.time"

// SnapshotAge returns how old the stored snapshot is at now, or a very large
// duration when there is none.
func (s *Store) SnapshotAge(ctx context.Context, now time.Time) time.Duration {
	data, err := s.backend.Load(ctx, snapshotMeta)
	if err != nil {
		return 1 << 62
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return 1 << 62
	}
	return now.Sub(t)
}

// WriteSnapshot stores the index as loaded at loadedAt (the start of the full
// load it comes from).
func (s *Store) WriteSnapshot(ctx context.Context, loadedAt time.Time) error {
	s.mu.RLock()
	snap := snapshot{WrittenAt: loadedAt.UTC(), Records: make([]Record, 0, len(s.entries))}
	for _, e := range s.entries {
		r := e.Record
		r.Hash = hex.EncodeToString(e.hash[:])
		snap.Records = append(snap.Records, r)
	}
	s.mu.RUnlock()
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	if err := s.backend.Store(ctx, SnapshotPath, data); err != nil {
		return fmt.Errorf("storing the key snapshot: %w", err)
	}
	return s.backend.Store(ctx, snapshotMeta, []byte(snap.WrittenAt.Format(time.RFC3339Nano)))
}

// LoadFast fills the index from a recent snapshot plus the change log, or, when
// there is no usable snapshot, with Load. It reports whether the snapshot was
// used.
func (s *Store) LoadFast(ctx context.Context, now time.Time) (bool, error) {
	data, err := s.backend.Load(ctx, SnapshotPath)
	if err != nil {
		return false, s.Load(ctx)
	}
	var snap snapshot
	if json.Unmarshal(data, &snap) != nil || now.Sub(snap.WrittenAt) > maxSnapshotAge || now.Before(snap.WrittenAt.Add(-snapshotMargin)) {
		return false, s.Load(ctx)
	}
	maxAge := s.Policy().MaxAge
	fresh := make(map[string]*Entry, len(snap.Records))
	intern := newScopeInterner()
	for _, r := range snap.Records {
		e, err := newEntry(r, maxAge)
		if err != nil {
			return false, s.Load(ctx)
		}
		intern.apply(e)
		fresh[r.ID] = e
	}
	s.mu.Lock()
	s.entries = fresh
	s.mu.Unlock()

	// Apply what changed since the snapshot.
	names, err := s.backend.List(ctx, ChangesPrefix, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, s.Load(ctx)
	}
	since := snap.WrittenAt.Add(-snapshotMargin)
	reloaded := map[string]bool{}
	var errs []error
	for _, name := range names {
		base := path.Base(name)
		ts, id, ok := strings.Cut(base, "_")
		nanos, perr := strconv.ParseInt(ts, 10, 64)
		if !ok || perr != nil || !ValidID(id) {
			continue
		}
		at := time.Unix(0, nanos)
		s.mu.Lock()
		s.seen[base] = at
		s.mu.Unlock()
		if at.Before(since) || reloaded[id] {
			continue
		}
		reloaded[id] = true
		if err := s.Reload(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return true, &SkippedError{Errs: errs}
	}
	return true, nil
}

// Open returns a store of backend with policy, filled at now by LoadFast, and
// logs how it was filled. Records that cannot be loaded are logged and left
// out. fullLoad is now when the store was filled by a full load, whose
// snapshot the Propagator then writes, and zero when a snapshot served.
func Open(ctx context.Context, backend Backend, policy Policy, now time.Time, logger *zap.Logger) (s *Store, fullLoad time.Time, err error) {
	s = New(backend, policy)
	begin := time.Now()
	fromSnapshot, err := s.LoadFast(ctx, now)
	logger.Info("api keys loaded", zap.Int("keys", s.Len()), zap.Bool("from_snapshot", fromSnapshot),
		zap.Duration("took", time.Since(begin)))
	var skipped *SkippedError
	if errors.As(err, &skipped) {
		logger.Error("some api keys could not be loaded", zap.Error(err))
	} else if err != nil {
		return nil, time.Time{}, err
	}
	if !fromSnapshot {
		fullLoad = now
	}
	return s, fullLoad, nil
}
