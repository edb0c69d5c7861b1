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
