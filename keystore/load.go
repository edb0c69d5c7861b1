package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"
)

// Loading the index from the backend: every record at start, one record when
// another instance changed it.

// loadWorkers is how many records Load reads at once.
const loadWorkers = 16

// scopeInterner makes entries with the same scopes share one slice and one
// joined string. The shared slices are never modified.
type scopeInterner struct {
	lists map[string]*Entry
}

func newScopeInterner() *scopeInterner { return &scopeInterner{lists: make(map[string]*Entry)} }

func (in *scopeInterner) apply(e *Entry) {
	if first, ok := in.lists[e.ScopeString]; ok {
		e.Record.Scopes = first.Record.Scopes
		e.ScopeString = first.ScopeString
		return
	}
	in.lists[e.ScopeString] = e
}

// SkippedError reports records that Load could not read. The other records were
// loaded: one corrupt file must not disable every key.
type SkippedError struct{ Errs []error }

func (e *SkippedError) Error() string { return errors.Join(e.Errs...).Error() }

// Load reads every record from the backend and replaces the index with them.
// Records that cannot be read are skipped and reported in a *SkippedError; any
// other error means nothing was loaded.
func (s *Store) Load(ctx context.Context) error {
	names, err := s.backend.List(ctx, StoragePrefix, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing keys: %w", err)
	}
	maxAge := s.Policy().MaxAge
	var ids []string
	for _, name := range names {
		id, ok := strings.CutSuffix(path.Base(name), ".json")
		if ok && ValidID(id) {
			ids = append(ids, id)
		}
	}

	// Reading records is I/O-bound on most storages: read them in parallel.
	// Entries share identical scope lists, which keeps 100,000 keys small.
	fresh := make(map[string]*Entry, len(ids))
	var (
		mu     sync.Mutex
		errs   []error
		wg     sync.WaitGroup
		work   = make(chan string)
		intern = newScopeInterner()
	)
	for w := 0; w < loadWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				e, err := s.loadEntry(ctx, id, maxAge)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					intern.apply(e)
					fresh[id] = e
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.entries = fresh
	s.mu.Unlock()
	if len(errs) > 0 {
		return &SkippedError{Errs: errs}
	}
	return nil
}

func (s *Store) loadEntry(ctx context.Context, id string, maxAge time.Duration) (*Entry, error) {
	r, err := s.loadRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return newEntry(r, maxAge)
}

// loadRecord reads one record, hash included, from the backend.
func (s *Store) loadRecord(ctx context.Context, id string) (Record, error) {
	data, err := s.backend.Load(ctx, recordPath(id))
	if err != nil {
		return Record{}, fmt.Errorf("loading key %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("decoding key %s: %w", id, err)
	}
	if r.ID != id {
		return Record{}, fmt.Errorf("key %s: record names id %q", id, truncate(r.ID, 20))
	}
	return r, nil
}

// Reload re-reads one record from the backend (after another instance changed
// it). A record that is gone from the backend is dropped from the index.
func (s *Store) Reload(ctx context.Context, id string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	e, err := s.loadEntry(ctx, id, s.Policy().MaxAge)
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		delete(s.entries, id)
		return nil
	}
	if err != nil {
		return err
	}
	s.entries[id] = e
	return nil
}
