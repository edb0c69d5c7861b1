// Package keystore holds API key records: the key format, hashing at rest, rotation,
// expiry and revocation, persisted one record per key in a storage backend (Caddy's
// configured storage in production) with an in-memory index for O(1) lookup.
//
// The package does not depend on Caddy. Time is always passed in, so tests use fixed
// instants.
package keystore

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
)

// A key has the form <prefix>_<id>_<secret><checksum>:
//
//   - prefix: the configured prefix (default "agk"), so secret scanners and humans
//     recognise the format;
//   - id: IDLen base62 characters, public, used for O(1) lookup;
//   - secret: SecretLen base62 characters from crypto/rand (about 190 bits);
//   - checksum: ChecksumLen base62 characters of the CRC-32 of everything before it,
//     so a typo is rejected without a lookup.
//
// Only the SHA-256 of the secret is stored.
const (
	IDLen       = 12
	SecretLen   = 32
	ChecksumLen = 6

	// DefaultPrefix is the key prefix when none is configured.
	DefaultPrefix = "agk"

	// MaxPrefixLen bounds a configured prefix.
	MaxPrefixLen = 16
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var crcTable = crc32.MakeTable(crc32.IEEE)

// ErrMalformed is returned for anything that is not a well-formed key of the
// configured prefix with a valid checksum.
var ErrMalformed = errors.New("malformed api key")

// ValidPrefix reports whether p can be used as a key prefix: 1 to MaxPrefixLen
// lowercase ASCII letters or digits, starting with a letter.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefixLen || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// KeyLen is the length of a key with the given prefix.
func KeyLen(prefix string) int {
	return len(prefix) + 1 + IDLen + 1 + SecretLen + ChecksumLen
}

// ParseKey splits key into its public id and its secret. It allocates nothing: the
// results are substrings of key. It checks the prefix, the lengths, the alphabet and
// the checksum, and returns ErrMalformed on any failure, whatever it was.
func ParseKey(prefix, key string) (id, secret string, err error) {
	if len(key) != KeyLen(prefix) || key[:len(prefix)] != prefix || key[len(prefix)] != '_' {
		return "", "", ErrMalformed
	}
	rest := key[len(prefix)+1:]
	if rest[IDLen] != '_' {
		return "", "", ErrMalformed
	}
	id = rest[:IDLen]
	body := rest[IDLen+1:]
	if !isBase62(id) || !isBase62(body) {
		return "", "", ErrMalformed
	}
	secret = body[:SecretLen]
	var want [ChecksumLen]byte
	encodeChecksum(&want, checksum(key[:len(key)-ChecksumLen]))
	if string(want[:]) != body[SecretLen:] {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// HashSecret returns the SHA-256 of a key's secret, the only form in which it is
// stored.
func HashSecret(secret string) [32]byte {
	var buf [SecretLen]byte
	n := copy(buf[:], secret)
	if n == len(secret) {
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(secret))
}

// secretMatches compares the hash of secret with want in constant time.
func secretMatches(secret string, want *[32]byte) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// newID returns a fresh random public key id.
func newID() (string, error) { return randomBase62(IDLen) }

// newKey returns a fresh key for id with prefix, and its secret.
func newKey(prefix, id string) (key, secret string, err error) {
	secret, err = randomBase62(SecretLen)
	if err != nil {
		return "", "", err
	}
	head := prefix + "_" + id + "_" + secret
	var sum [ChecksumLen]byte
	encodeChecksum(&sum, checksum(head))
	return head + string(sum[:]), secret, nil
}

// randomBase62 returns n characters drawn uniformly from base62 using crypto/rand
// (rejection sampling, so there is no modulo bias).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			if b >= 248 { // 248 = 4*62: keep the distribution uniform
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

func checksum(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crcTable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

func encodeChecksum(dst *[ChecksumLen]byte, v uint32) {
	// 62^6 > 2^32, so six characters always hold the value.
	for i := ChecksumLen - 1; i >= 0; i-- {
		dst[i] = base62[v%62]
		v /= 62
	}
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// ValidID reports whether s has the shape of a key id. Callers use it to reject
// ids from URLs and storage before they reach a storage path.
func ValidID(s string) bool { return len(s) == IDLen && isBase62(s) }
