// Package notify delivers events as Standard Webhooks messages
// (https://www.standardwebhooks.com): signed with HMAC-SHA256, retried with
// exponential backoff and jitter, and kept in an outbox in storage so pending
// deliveries survive a restart. It does not depend on Caddy.
package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks secret.
const SecretPrefix = "whsec_"

// ParseSecret decodes a `whsec_<base64>` secret into its key bytes.
func ParseSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("webhook secret: the part after " + SecretPrefix + " is not base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("webhook secret: the key must be 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// ErrNoSecret is the one wording of a receiver without a secret.
var ErrNoSecret = errors.New("a secret is required (whsec_...)")

// NewConfig checks a receiver's URL (an absolute http or https URL) and its
// Standard Webhooks secret, and returns the Config that delivers to it. Its
// errors never include the secret.
func NewConfig(rawURL, secret string, timeout time.Duration) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, errors.New("the URL must be an absolute http or https URL")
	}
	if secret == "" {
		return Config{}, ErrNoSecret
	}
	key, err := ParseSecret(secret)
	if err != nil {
		return Config{}, err
	}
	return Config{URL: u.String(), Key: key, Timeout: timeout}, nil
}

// NewSecret returns a fresh `whsec_` secret of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for a message:
// `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no valid signature")
)

// Verify checks a received message as a receiver should: the timestamp within
// tolerance of now (against replays) and one of the space-separated signatures
// matching, compared in constant time.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := Sign(key, id, sec, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}
