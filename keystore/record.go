package keystore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Record is what the keystore knows about one API key. It never holds the key or
// its secret; Hash is the hex SHA-256 of the secret.
type Record struct {
	ID          string   `json:"id"`
	Consumer    string   `json:"consumer"`
	Scopes      []string `json:"scopes,omitempty"`
	AllowedIPs  []string `json:"allowed_ips,omitempty"`
	Description string   `json:"description,omitempty"`
	// Metadata are string pairs set at creation (never secret), exposed as
	// {http.auth.user.meta.<name>} placeholders; see ValidateMetadata.
	Metadata    map[string]string `json:"metadata,omitempty"`
	Hash        string            `json:"hash,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	RotatedAt   time.Time         `json:"rotated_at,omitzero"`
	RotatedFrom string            `json:"rotated_from,omitempty"`
	RotatedTo   string            `json:"rotated_to,omitempty"`
	RevokedAt   time.Time         `json:"revoked_at,omitzero"`

	// When the key.expiring and key.expired events went out, so that a cluster
	// sends each once: the record is changed under its storage lock.
	ExpiringNotifiedAt time.Time `json:"expiring_notified_at,omitzero"`
	ExpiredNotifiedAt  time.Time `json:"expired_notified_at,omitzero"`
}

// Status is the state of a record at an instant.
type Status string

// The states a key can be in.
const (
	StatusActive  Status = "active"
	StatusGrace   Status = "grace" // rotated, still valid until ExpiresAt
	StatusExpired Status = "expired"
	StatusRevoked Status = "revoked"
)

// StatusAt returns the record's state at now.
func (r *Record) StatusAt(now time.Time) Status {
	switch {
	case !r.RevokedAt.IsZero() && !now.Before(r.RevokedAt):
		return StatusRevoked
	case !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt):
		return StatusExpired
	case r.RotatedTo != "":
		return StatusGrace
	}
	return StatusActive
}

// Public returns a copy of the record without its hash, for showing to operators.
func (r Record) Public() Record {
	r.Hash = ""
	r.Scopes = append([]string(nil), r.Scopes...)
	r.AllowedIPs = append([]string(nil), r.AllowedIPs...)
	r.Metadata = maps.Clone(r.Metadata)
	return r
}

// View is a record as the admin API and api_key_rotate show it: never its
// hash, and the key itself only in the answers to create and rotate.
type View struct {
	Record
	Status Status `json:"status"`
	// Key is set only in the answers to create and rotate.
	Key string `json:"key,omitempty"`
	// RevokedSuccessors, in the answer to a revocation, lists the keys it
	// revoked because they were rotated from this one.
	RevokedSuccessors []string `json:"revoked_successors,omitempty"`
}

// ViewAt returns the record as shown at now, with key (empty unless it was
// just issued).
func (r Record) ViewAt(key string, now time.Time) View {
	return View{Record: r.Public(), Status: r.StatusAt(now), Key: key}
}

// Limits on what a record may hold, so a bad admin request cannot bloat storage or
// headers.
const (
	MaxConsumerLen    = 256
	MaxScopes         = 64
	MaxScopeLen       = 128
	MaxAllowedIPs     = 64
	MaxDescriptionLen = 1024
	// Metadata: at most MaxMetadata pairs, names of at most MaxMetadataName
	// bytes of [a-z0-9_], values of at most MaxMetadataValue bytes.
	MaxMetadata      = 16
	MaxMetadataName  = 64
	MaxMetadataValue = 256
)

// ErrInvalid wraps every validation failure of a key request.
var ErrInvalid = errors.New("invalid key request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidScope reports whether s is a well-formed scope: 1 to MaxScopeLen printable
// ASCII characters other than space, quote and backslash (they would break the
// space-separated scope list and the WWW-Authenticate header), comma and equals
// sign (a list written with commas, or `scope=x`, is a mistake, not a scope).
func ValidScope(s string) bool {
	if len(s) == 0 || len(s) > MaxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

func validateConsumer(c string) error {
	if c == "" {
		return invalid("consumer is required")
	}
	if len(c) > MaxConsumerLen {
		return invalid("consumer is longer than %d bytes", MaxConsumerLen)
	}
	if !utf8.ValidString(c) {
		return invalid("consumer is not valid UTF-8")
	}
	for _, r := range c {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return invalid("consumer contains white space or control characters")
		}
	}
	return nil
}

func validateScopes(scopes []string) error {
	if len(scopes) > MaxScopes {
		return invalid("more than %d scopes", MaxScopes)
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return invalid("scope %q is not valid (1-%d printable ASCII characters, no spaces, quotes, backslashes, commas or '=': one scope per list item)", truncate(s, 40), MaxScopeLen)
		}
	}
	return nil
}

// ParseAllowedIPs parses IPs and CIDR prefixes; a bare IP becomes a single-address
// prefix.
func ParseAllowedIPs(list []string) ([]netip.Prefix, error) {
	if len(list) > MaxAllowedIPs {
		return nil, invalid("more than %d allowed_ips", MaxAllowedIPs)
	}
	var out []netip.Prefix
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, invalid("allowed_ips: %q is not an IP address or CIDR prefix", truncate(s, 60))
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix parses an IP address or a CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validateDescription(d string) error {
	if len(d) > MaxDescriptionLen {
		return invalid("description is longer than %d bytes", MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return invalid("description is not valid UTF-8")
	}
	return nil
}

// ValidateMetadata checks a key's metadata: at most MaxMetadata pairs; each
// name 1 to MaxMetadataName bytes of a-z, 0-9 and _ (it becomes part of a
// placeholder name); each value at most MaxMetadataValue bytes of printable
// UTF-8 without control characters (it may be sent in a header upstream).
func ValidateMetadata(md map[string]string) error {
	if len(md) > MaxMetadata {
		return invalid("more than %d metadata pairs", MaxMetadata)
	}
	for name, val := range md {
		if !ValidMetadataName(name) {
			return invalid("metadata name %q is not valid (1-%d characters of a-z, 0-9 and _)", truncate(name, 40), MaxMetadataName)
		}
		if len(val) > MaxMetadataValue {
			return invalid("metadata %s is longer than %d bytes", name, MaxMetadataValue)
		}
		if !utf8.ValidString(val) || strings.IndexFunc(val, unicode.IsControl) >= 0 {
			return invalid("metadata %s is not printable UTF-8", name)
		}
	}
	return nil
}

// MetaPlaceholderPrefix is the placeholder name of a metadata pair before
// its name.
const MetaPlaceholderPrefix = "http.auth.user.meta."

// ValidMetadataName reports whether s is a metadata name: 1 to
// MaxMetadataName bytes of a-z, 0-9 and _.
func ValidMetadataName(s string) bool {
	if len(s) == 0 || len(s) > MaxMetadataName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Entry is the immutable, request-ready form of a record: parsed once when the
// record is loaded or changed, so the request path only reads it.
type Entry struct {
	Record Record

	hash     [32]byte
	prefixes []netip.Prefix

	// Scopes joined by spaces, for the placeholder.
	ScopeString string

	// MetaPlaceholders is the record's metadata keyed by placeholder name
	// (http.auth.user.meta.<name>), built once so a request sets the
	// placeholders without building their names. Nil without metadata; never
	// modify it.
	MetaPlaceholders map[string]string

	// Deprecation and sunset header values for a rotated key, or for a key past
	// max_age (deprecatedAt is then the moment it became deprecated).
	deprecatedAt time.Time
	deprecation  string
	sunset       string
}

func newEntry(r Record, maxAge time.Duration) (*Entry, error) {
	if !ValidID(r.ID) {
		return nil, fmt.Errorf("record has an invalid id")
	}
	h, err := hex.DecodeString(r.Hash)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("record %s has an invalid hash", r.ID)
	}
	prefixes, err := ParseAllowedIPs(r.AllowedIPs)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	e := &Entry{Record: r, prefixes: prefixes, ScopeString: strings.Join(r.Scopes, " ")}
	if len(r.Metadata) > 0 {
		e.MetaPlaceholders = make(map[string]string, len(r.Metadata))
		for name, val := range r.Metadata {
			e.MetaPlaceholders[MetaPlaceholderPrefix+name] = val
		}
	}
	copy(e.hash[:], h)
	// The index keeps the hash as bytes only.
	e.Record.Hash = ""
	e.setDeprecation(maxAge)
	return e, nil
}

// setDeprecation computes the Deprecation and Sunset values under maxAge.
func (e *Entry) setDeprecation(maxAge time.Duration) {
	r := &e.Record
	e.deprecatedAt, e.deprecation, e.sunset = time.Time{}, "", ""
	switch {
	case r.RotatedTo != "" && !r.RotatedAt.IsZero():
		e.deprecatedAt = r.RotatedAt
	case maxAge > 0:
		e.deprecatedAt = r.CreatedAt.Add(maxAge)
	}
	if !e.deprecatedAt.IsZero() {
		e.deprecation = "@" + strconv.FormatInt(e.deprecatedAt.Unix(), 10)
		if !r.ExpiresAt.IsZero() {
			e.sunset = r.ExpiresAt.UTC().Format(http.TimeFormat)
		}
	}
}

// AllowsIP reports whether the key may be used from addr. A key without
// allowed_ips may be used from anywhere; an invalid addr is never allowed when
// the key is restricted.
func (e *Entry) AllowsIP(addr netip.Addr) bool {
	if len(e.prefixes) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range e.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Deprecation returns the values of the Deprecation (RFC 9745) and Sunset
// (RFC 8594) headers for a request at now, or empty strings when the key is not
// deprecated. Sunset is empty for a deprecated key without an expiry.
func (e *Entry) Deprecation(now time.Time) (deprecation, sunset string) {
	if e.deprecation == "" || now.Before(e.deprecatedAt) {
		return "", ""
	}
	return e.deprecation, e.sunset
}
