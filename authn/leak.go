package authn

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

// KeyLeak is the api_key_leak handler: it revokes the API keys it is given
// and emits key.leaked for each key it revokes. It answers by itself (put it
// in its own handle or route, without api_auth: a leaked key must be
// reportable by whoever found it).
//
// Plain form: POST a JSON array of {"token": "<key>"} objects, or one key in
// X-API-Key with no body. The answer is 200 with a JSON array, one
// {"result"} per key in order: "revoked" for every well-formed key, whether it
// was valid (and is now revoked), revoked already, or never existed, so the
// answer tells a caller who did not hold a key nothing; "not_a_key" for a
// token that does not have the key format (which anyone can check).
//
// GitHub form (github set): GitHub's secret scanning partner endpoint. The
// body is verified against the ECDSA P-256 signature in
// Github-Public-Key-Signature with the key named by
// Github-Public-Key-Identifier before anything else (401 and nothing revoked
// when it does not verify); the answer is GitHub's: a JSON array of
// {"token_raw","token_type","label"}, label true_positive for a real key
// (now revoked) and false_positive otherwise.
//
// Both forms accept only POST (405), bound the body (413), refuse malformed
// JSON (400) and are rate limited per client address (429).
type KeyLeak struct {
	// GitHub turns the handler into GitHub's secret scanning partner
	// endpoint. Default: off (the plain form).
	GitHub *GitHubScanning `json:"github,omitempty"`

	// MaxBody bounds the request body, in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// RateLimit is how many reports a client address may send per
	// RateWindow. Default: 30 per minute.
	RateLimit  int            `json:"rate_limit,omitempty"`
	RateWindow caddy.Duration `json:"rate_window,omitempty"`

	app     gateway.App
	logger  *zap.Logger
	now     func() time.Time
	gate    *gateway.Gate
	answers leakAnswers
	buckets *clientBuckets
	signers *GitHubKeys
	// The keys of the pooled state taken (leakpool.go).
	bucketsKey, signersKey string
}

// GitHubScanning configures the GitHub form of api_key_leak.
type GitHubScanning struct {
	// KeysURL is GitHub's list of signing keys. Default:
	// https://api.github.com/meta/public_keys/secret_scanning.
	KeysURL string `json:"keys_url,omitempty"`

	// PublicKeys, when set, are the only keys trusted, and KeysURL is not
	// fetched. Key is PEM text; {file./path} and {env.X} are expanded.
	// Default: none (keys come from KeysURL).
	PublicKeys []GitHubPublicKey `json:"public_keys,omitempty"`

	// Timeout bounds a fetch of KeysURL. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// UnknownKidInterval is the least time between two fetches of KeysURL
	// caused by a report naming a key identifier the gateway does not know
	// (GitHub rotated its key), so a flood of made-up identifiers cannot
	// make the gateway hammer the list. The list is fetched again after an
	// hour in any case. Default: 1m.
	UnknownKidInterval caddy.Duration `json:"unknown_kid_interval,omitempty"`
}

// GitHubPublicKey is one configured signing key of GitHub.
type GitHubPublicKey struct {
	// KeyIdentifier is the value of Github-Public-Key-Identifier that names it.
	KeyIdentifier string `json:"key_identifier"`
	// Key is the PEM "PUBLIC KEY" (ECDSA P-256).
	Key string `json:"key"`
}

type leakAnswers struct {
	method, tooMany, tooLarge, malformed, badSignature, unavailable *gateway.Answer
}

// CaddyModule returns the Caddy module information.
func (KeyLeak) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_key_leak",
		New: func() caddy.Module { return new(KeyLeak) },
	}
}

// Provision fills the defaults and reads the configured GitHub keys; it
// fetches nothing (GitHub's list is fetched when a report first needs it).
func (h *KeyLeak) Provision(ctx caddy.Context) error {
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	g, err := gateway.NewGate(ctx, "api_key_leak", gateway.Enforce)
	if err != nil {
		return err
	}
	h.app, h.logger, h.now, h.gate = app, ctx.Logger(), time.Now, g
	if h.MaxBody == 0 {
		h.MaxBody = 1 << 20
	}
	if h.RateLimit == 0 {
		h.RateLimit = 30
	}
	if h.RateWindow == 0 {
		h.RateWindow = caddy.Duration(time.Minute)
	}
	if h.RateLimit > 0 && h.RateWindow > 0 {
		if err := h.takeBuckets(); err != nil {
			return err
		}
	}
	h.answers = leakAnswers{
		method:       g.Answer(http.StatusMethodNotAllowed, "method_not_allowed", "use POST to report leaked keys", "Allow", "POST"),
		tooMany:      g.Answer(http.StatusTooManyRequests, "rate_limited", "too many reports from this address; retry after the time in Retry-After"),
		tooLarge:     g.Answer(http.StatusRequestEntityTooLarge, "too_large", "the report is too large"),
		malformed:    g.Answer(http.StatusBadRequest, "malformed", ErrLeakReport.Error()+", or one key in X-API-Key with no body"),
		badSignature: g.Answer(http.StatusUnauthorized, "bad_signature", "the report's signature does not verify"),
		unavailable:  g.Answer(http.StatusServiceUnavailable, "keys_unavailable", "the signing keys could not be fetched; retry later", "Retry-After", "30"),
	}
	if h.GitHub != nil {
		return h.GitHub.provision(h)
	}
	return nil
}

func (gh *GitHubScanning) provision(h *KeyLeak) error {
	if gh.KeysURL == "" {
		gh.KeysURL = DefaultGitHubKeysURL
	}
	if gh.Timeout == 0 {
		gh.Timeout = caddy.Duration(5 * time.Second)
	}
	if gh.UnknownKidInterval == 0 {
		gh.UnknownKidInterval = caddy.Duration(time.Minute)
	}
	if len(gh.PublicKeys) == 0 {
		return h.takeGitHubKeys(gh.KeysURL, time.Duration(gh.Timeout), time.Duration(gh.UnknownKidInterval))
	}
	h.signers = &GitHubKeys{Static: make(map[string]*ecdsa.PublicKey, len(gh.PublicKeys))}
	repl := caddy.NewReplacer()
	for _, k := range gh.PublicKeys {
		pub, err := ParseGitHubKey(repl.ReplaceAll(k.Key, ""))
		if err != nil {
			return fmt.Errorf("api_key_leak: github key %q: %w", k.KeyIdentifier, err)
		}
		h.signers.Static[k.KeyIdentifier] = pub
	}
	return nil
}

// Validate checks the configuration.
func (h *KeyLeak) Validate() error {
	switch {
	case h.MaxBody < 0 || h.RateLimit < 0 || h.RateWindow < 0:
		return errors.New("api_key_leak: max_body, rate_limit and rate_window must not be negative")
	case h.GitHub == nil:
		return nil
	case h.GitHub.UnknownKidInterval < 0 || h.GitHub.Timeout < 0:
		return errors.New("api_key_leak: timeout and unknown_kid_interval must not be negative")
	}
	for _, k := range h.GitHub.PublicKeys {
		if k.KeyIdentifier == "" {
			return errors.New("api_key_leak: a github key needs its key_identifier")
		}
	}
	if err := CheckFetchURL(h.GitHub.KeysURL); err != nil {
		return fmt.Errorf("api_key_leak: keys_url: %w", err)
	}
	return nil
}

func (h *KeyLeak) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		return h.refuse(w, r, h.answers.method, noExtra)
	}
	now := h.now()
	if h.buckets != nil {
		if ok, wait := h.buckets.Allow(gateway.AddrKey(gateway.ClientIP(r)), now); !ok {
			return h.refuse(w, r, h.answers.tooMany, gateway.Extra{RetryAfter: retryAfter(wait)})
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return h.refuse(w, r, h.answers.tooLarge, noExtra)
		}
		return h.refuse(w, r, h.answers.malformed, noExtra)
	}
	if h.GitHub != nil {
		return h.serveGitHub(w, r, body, now)
	}
	tokens, err := plainReport(r, body)
	if err != nil {
		return h.refuse(w, r, h.answers.malformed, noExtra)
	}
	type result struct {
		Result string `json:"result"`
	}
	out := make([]result, len(tokens))
	for i, t := range tokens {
		out[i].Result = "revoked"
		if _, _, err := keystore.ParseKey(h.app.Store().Policy().Prefix, t.Token); err != nil {
			out[i].Result = "not_a_key"
			continue
		}
		h.revoke(r, t.Token, LeakReported, now)
	}
	h.gate.Pass(now)
	return writeJSON(w, out)
}

// plainReport reads the keys of a plain report: the body, or X-API-Key when
// there is no body (one or the other).
func plainReport(r *http.Request, body []byte) ([]LeakedToken, error) {
	header := r.Header.Values("X-Api-Key")
	switch {
	case len(body) > 0 && len(header) == 0:
		return ParseLeakReport(body)
	case len(body) == 0 && len(header) == 1 && header[0] != "" && len(header[0]) <= maxLeakToken:
		return []LeakedToken{{Token: header[0]}}, nil
	}
	return nil, ErrLeakReport
}

// serveGitHub answers a report of GitHub's secret scanning.
func (h *KeyLeak) serveGitHub(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) error {
	key, err := h.signers.Key(r.Context(), r.Header.Get("Github-Public-Key-Identifier"), now)
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		h.logger.Error("fetching github's secret scanning keys", zap.String("url", h.GitHub.KeysURL))
		return h.refuse(w, r, h.answers.unavailable, noExtra)
	case err != nil:
		return h.refuse(w, r, h.answers.badSignature, noExtra)
	}
	if VerifyGitHubSignature(key, body, r.Header.Get("Github-Public-Key-Signature")) != nil {
		return h.refuse(w, r, h.answers.badSignature, noExtra)
	}
	tokens, err := ParseLeakReport(body)
	if err != nil {
		return h.refuse(w, r, h.answers.malformed, noExtra)
	}
	type label struct {
		Token string `json:"token_raw"`
		Type  string `json:"token_type"`
		Label string `json:"label"`
	}
	out := make([]label, len(tokens))
	for i, t := range tokens {
		out[i] = label{Token: t.Token, Type: t.Type, Label: "false_positive"}
		if h.revoke(r, t.Token, LeakGitHub, now) {
			out[i].Label = "true_positive"
		}
	}
	h.gate.Pass(now)
	return writeJSON(w, out)
}

// revoke revokes token if it is a valid key and reports whether it is a real
// key (valid, revoked or expired): a token with a wrong secret is not, and
// revoking a key by its public id alone would let anyone end anyone's key.
func (h *KeyLeak) revoke(r *http.Request, token, reason string, now time.Time) bool {
	e, res := h.app.Store().Authenticate(token, now)
	switch res {
	case keystore.Accepted:
		revokeLeaked(r.Context(), h.app, h.logger, e.Record.ID, e.Record.Consumer, reason, now)
		return true
	case keystore.Revoked, keystore.Expired:
		return true
	}
	return false
}

func (h *KeyLeak) refuse(w http.ResponseWriter, r *http.Request, ans *gateway.Answer, x gateway.Extra) error {
	_, err := h.gate.RejectWith(w, r, ans, x)
	return err
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*KeyLeak)(nil)
	_ caddy.Provisioner           = (*KeyLeak)(nil)
	_ caddy.Validator             = (*KeyLeak)(nil)
)
