package keystore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Backend is the storage the records live in: a subset of certmagic.Storage, so
// Caddy's configured storage (file system, Redis, Consul, Postgres...) fits as is.
// Load returns an error wrapping fs.ErrNotExist for a missing key.
type Backend interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, path string, recursive bool) ([]string, error)
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// StoragePrefix is the folder of the backend that holds one JSON file per key.
const StoragePrefix = "api_gateway/keys"

// Policy holds the key settings of the api_gateway app.
type Policy struct {
	// Prefix of new keys and of the keys this store accepts.
	Prefix string
	// Grace is how long a rotated key keeps working when a rotation names no grace.
	Grace time.Duration
	// MaxAge flags keys older than this as deprecated; 0 disables.
	MaxAge time.Duration
	// WarnBefore is how long before expiry a key.expiring event is due; 0 disables.
	WarnBefore time.Duration
}

// Errors returned by the store's operations. Callers map them to HTTP statuses.
var (
	ErrNotFound = errors.New("key not found")
	ErrConflict = errors.New("key cannot be changed in its current state")
	// ErrRotated is the ErrConflict of a key in its grace period: only the key
	// it was rotated into may rotate.
	ErrRotated = fmt.Errorf("%w: it was rotated already and is in its grace period", ErrConflict)
)

// Store is the key index: records from a Backend, indexed by id in memory. It is
// safe for concurrent use. Reads (Authenticate, Get, List) never touch the backend;
// writes go to the backend first, then to the index.
type Store struct {
	backend Backend

	mu       sync.RWMutex
	policy   Policy
	entries  map[string]*Entry
	hooks    []hookSet
	onEvent  func(Event)
	onChange func(id string)
	// seen holds the change markers already applied (see Refresh).
	seen map[string]time.Time

	// writeMu serialises writes of this instance; the backend lock serialises
	// instances that share a backend.
	writeMu sync.Mutex
}

// New returns an empty store on backend. Call Load to fill it.
func New(backend Backend, policy Policy) *Store {
	if policy.Prefix == "" {
		policy.Prefix = DefaultPrefix
	}
	return &Store{backend: backend, policy: policy, entries: make(map[string]*Entry), seen: make(map[string]time.Time)}
}

// Policy returns the store's current policy.
func (s *Store) Policy() Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policy
}

// SetPolicy replaces the policy (after a config reload) and rebuilds the derived
// fields of every entry.
func (s *Store) SetPolicy(p Policy) {
	if p.Prefix == "" {
		p.Prefix = DefaultPrefix
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == s.policy {
		return
	}
	s.policy = p
	for id, e := range s.entries {
		ne := *e
		ne.setDeprecation(p.MaxAge)
		s.entries[id] = &ne
	}
}

// Len returns the number of records in the index.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

func recordPath(id string) string { return path.Join(StoragePrefix, id+".json") }

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

// Result says why Authenticate accepted or rejected a key. Callers must give every
// rejection the same answer; the distinction is for metrics and debug logs only.
type Result uint8

// Results of Authenticate.
const (
	Accepted Result = iota
	Malformed
	Unknown
	Mismatch
	Revoked
	Expired
)

var resultNames = [...]string{"accepted", "malformed", "unknown", "mismatch", "revoked", "expired"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[int(r)]
	}
	return "invalid"
}

// dummyHash is compared against when there is no record, so that unknown and
// malformed keys cost the same hash and comparison as known ones.
var dummyHash [32]byte

// Authenticate checks key at now. It parses the key, looks its id up, and compares
// the hash of its secret in constant time. Every path computes one hash and one
// comparison, so unknown, malformed, revoked and expired keys take the same time
// as a wrong secret. It allocates nothing.
func (s *Store) Authenticate(key string, now time.Time) (*Entry, Result) {
	s.mu.RLock()
	prefix := s.policy.Prefix
	id, secret, err := ParseKey(prefix, key)
	var e *Entry
	if err == nil {
		e = s.entries[id]
	}
	s.mu.RUnlock()

	if err != nil {
		// Hash something of the secret's length anyway.
		if len(key) > SecretLen {
			key = key[:SecretLen]
		}
		secretMatches(key, &dummyHash)
		return nil, Malformed
	}
	if e == nil {
		secretMatches(secret, &dummyHash)
		return nil, Unknown
	}
	if !secretMatches(secret, &e.hash) {
		return nil, Mismatch
	}
	switch e.Record.StatusAt(now) {
	case StatusRevoked:
		return nil, Revoked
	case StatusExpired:
		return nil, Expired
	}
	return e, Accepted
}

// Get returns the record with id.
func (s *Store) Get(id string) (Record, bool) {
	s.mu.RLock()
	e, ok := s.entries[id]
	s.mu.RUnlock()
	if !ok {
		return Record{}, false
	}
	return e.Record.Public(), true
}

// List returns every record, oldest first (then by id), without hashes.
func (s *Store) List() []Record {
	s.mu.RLock()
	out := make([]Record, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.Record.Public())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CreateRequest describes a new key.
type CreateRequest struct {
	Consumer    string
	Scopes      []string
	AllowedIPs  []string
	Description string
	// Metadata are string pairs exposed as {http.auth.user.meta.<name>}
	// (ValidateMetadata); never secret.
	Metadata map[string]string
	// TTL is the key's lifetime; 0 means it does not expire.
	TTL time.Duration
}

// MaxTTL bounds a key's lifetime.
const MaxTTL = 100 * 365 * 24 * time.Hour

// Create issues a new key at now. It returns the stored record (without hash) and
// the key itself, which is never stored and cannot be shown again.
func (s *Store) Create(ctx context.Context, req CreateRequest, now time.Time) (Record, string, error) {
	if err := validateConsumer(req.Consumer); err != nil {
		return Record{}, "", err
	}
	if err := validateScopes(req.Scopes); err != nil {
		return Record{}, "", err
	}
	if _, err := ParseAllowedIPs(req.AllowedIPs); err != nil {
		return Record{}, "", err
	}
	if err := validateDescription(req.Description); err != nil {
		return Record{}, "", err
	}
	if err := ValidateMetadata(req.Metadata); err != nil {
		return Record{}, "", err
	}
	if req.TTL < 0 || req.TTL > MaxTTL {
		return Record{}, "", invalid("ttl must be between 0 (no expiry) and %s", MaxTTL)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	rec := Record{
		Consumer:    req.Consumer,
		Scopes:      dedupe(req.Scopes),
		AllowedIPs:  append([]string(nil), req.AllowedIPs...),
		Description: req.Description,
		Metadata:    maps.Clone(req.Metadata),
		CreatedAt:   now.UTC(),
	}
	if req.TTL > 0 {
		rec.ExpiresAt = rec.CreatedAt.Add(req.TTL)
	}
	key, err := s.issue(ctx, &rec)
	if err != nil {
		return Record{}, "", err
	}
	s.emit(EventCreated, now, rec, nil)
	return rec.Public(), key, nil
}

// issue gives rec a fresh id and secret, stores it and indexes it. The caller
// holds writeMu.
func (s *Store) issue(ctx context.Context, rec *Record) (string, error) {
	prefix := s.Policy().Prefix
	for attempt := 0; ; attempt++ {
		id, err := newID()
		if err != nil {
			return "", err
		}
		s.mu.RLock()
		_, taken := s.entries[id]
		s.mu.RUnlock()
		if taken {
			if attempt > 3 {
				return "", fmt.Errorf("could not find a free key id")
			}
			continue
		}
		key, secret, err := newKey(prefix, id)
		if err != nil {
			return "", err
		}
		h := HashSecret(secret)
		rec.ID = id
		rec.Hash = hex.EncodeToString(h[:])
		if err := s.put(ctx, *rec); err != nil {
			return "", err
		}
		return key, nil
	}
}

// put writes rec to the backend, then to the index.
func (s *Store) put(ctx context.Context, rec Record) error {
	e, err := newEntry(rec, s.Policy().MaxAge)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		return err
	}
	if err := s.backend.Store(ctx, recordPath(rec.ID), data); err != nil {
		return fmt.Errorf("storing key %s: %w", rec.ID, err)
	}
	s.mu.Lock()
	s.entries[rec.ID] = e
	s.mu.Unlock()
	// Other instances pick the change up from the marker; a failure to write it
	// delays them until their next full load, so it does not fail the change.
	_ = s.recordChange(ctx, rec.ID, time.Now())
	s.changed(rec.ID)
	return nil
}

// lockName is the backend lock that serialises changes to one key across
// instances.
func lockName(id string) string { return "api_gateway_key_" + id }

// current re-reads the record from the backend under its lock, so a change made
// by another instance is not overwritten.
func (s *Store) current(ctx context.Context, id string) (Record, error) {
	r, err := s.loadRecord(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, ErrNotFound
	}
	return r, err
}

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
	// rotated_from never changes once written, so it can be read before the
	// locks. Locks are taken in chain order, predecessor first; no other
	// operation holds two key locks, so instances cannot deadlock.
	first, err := s.current(ctx, id)
	if err != nil {
		return Record{}, Record{}, "", err
	}
	pred := first.RotatedFrom
	if pred == id || !ValidID(pred) {
		pred = "" // a damaged record: there is no predecessor to lock
	}
	if pred != "" {
		if err := s.backend.Lock(ctx, lockName(pred)); err != nil {
			return Record{}, Record{}, "", fmt.Errorf("locking key %s: %w", pred, err)
		}
		defer s.backend.Unlock(context.WithoutCancel(ctx), lockName(pred)) //nolint:errcheck
	}
	if err := s.backend.Lock(ctx, lockName(id)); err != nil {
		return Record{}, Record{}, "", fmt.Errorf("locking key %s: %w", id, err)
	}
	defer s.backend.Unlock(context.WithoutCancel(ctx), lockName(id)) //nolint:errcheck

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
	fresh := Record{
		Consumer:    old.Consumer,
		Scopes:      old.Scopes,
		AllowedIPs:  old.AllowedIPs,
		Description: old.Description,
		Metadata:    old.Metadata,
		CreatedAt:   now,
		ExpiresAt:   old.ExpiresAt,
		RotatedFrom: old.ID,
	}
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
