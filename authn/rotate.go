package authn

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

// KeyRotate is the api_key_rotate handler: a consumer rotates its own API key.
// Placed after api_auth, it uses the key api_auth accepted, needs no body, and
// answers POST with 201 and the new key (`{"id","key",...}`); the old key enters
// the grace period of `keys { grace }`. Other methods get 405; callers that did
// not authenticate with an API key get 401.
//
// A key can be rotated once (a rotated key is in grace: 409), and a new key
// only after min_age; the new key keeps the old key's expires_at, and rotating
// it ends the grace of the key before. So a leaked key cannot be used to churn
// keys, to outlive its expiry, or to leave more than two keys working.
type KeyRotate struct {
	// MinAge is how old a key must be before it may rotate itself. Default: 1m;
	// 0 turns the check off.
	MinAge *caddy.Duration `json:"min_age,omitempty"`

	minAge  time.Duration
	app     gateway.App
	logger  *zap.Logger
	now     func() time.Time
	gate    *gateway.Gate
	answers rotateAnswers
}

// rotateAnswers are api_key_rotate's refusals, built once at provision.
type rotateAnswers struct {
	method, needsKey, invalid, inGrace, ended, tooSoon *gateway.Answer
}

func newRotateAnswers(g *gateway.Gate) rotateAnswers {
	return rotateAnswers{
		method: g.Answer(http.StatusMethodNotAllowed, "method_not_allowed", "use POST to rotate the key", "Allow", "POST"),
		needsKey: g.Answer(http.StatusUnauthorized, "no_key", "rotating a key needs the API key itself as the credential",
			"WWW-Authenticate", gateway.ChallengeBare),
		invalid: g.Answer(http.StatusUnauthorized, "unknown", detailInvalid, "WWW-Authenticate", gateway.ChallengeInvalid),
		inGrace: g.Answer(http.StatusConflict, "conflict",
			"this key was rotated already and is in its grace period: only the key it was rotated into can rotate"),
		ended:   g.Answer(http.StatusConflict, "conflict", "this key expired or was revoked"),
		tooSoon: g.Answer(http.StatusTooManyRequests, "too_soon", "this key is too new to be rotated again"),
	}
}

// CaddyModule returns the Caddy module information.
func (KeyRotate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_key_rotate",
		New: func() caddy.Module { return new(KeyRotate) },
	}
}

// DefaultRotateMinAge is the default of KeyRotate.MinAge.
const DefaultRotateMinAge = time.Minute

// Provision connects the handler to the key store.
func (h *KeyRotate) Provision(ctx caddy.Context) error {
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	g, err := gateway.NewGate(ctx, "api_key_rotate", gateway.Enforce)
	if err != nil {
		return err
	}
	h.app, h.logger, h.now, h.gate = app, ctx.Logger(), time.Now, g
	h.minAge = DefaultRotateMinAge
	if h.MinAge != nil {
		h.minAge = time.Duration(*h.MinAge)
	}
	h.answers = newRotateAnswers(g)
	return nil
}

// Validate checks the configuration.
func (h *KeyRotate) Validate() error {
	if h.MinAge != nil && *h.MinAge < 0 {
		return errors.New("api_key_rotate: min_age must not be negative")
	}
	return nil
}

func (h *KeyRotate) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		return h.refuse(w, r, h.answers.method, 0)
	}
	id := gateway.IdentityFrom(r)
	if id == nil || id.Method != "api_key" || id.KeyID == "" {
		return h.refuse(w, r, h.answers.needsKey, 0)
	}
	store := h.app.Store()
	now := h.now()
	rec, ok := store.Get(id.KeyID)
	if !ok {
		return h.refuse(w, r, h.answers.invalid, 0)
	}
	if rec.StatusAt(now) == keystore.StatusGrace {
		return h.refuse(w, r, h.answers.inGrace, 0)
	}
	if wait := rec.CreatedAt.Add(h.minAge).Sub(now); wait > 0 {
		return h.refuse(w, r, h.answers.tooSoon, int(wait.Seconds())+1)
	}
	fresh, _, key, err := store.Rotate(r.Context(), id.KeyID, -1, now)
	switch {
	case errors.Is(err, keystore.ErrRotated):
		return h.refuse(w, r, h.answers.inGrace, 0)
	case errors.Is(err, keystore.ErrConflict):
		return h.refuse(w, r, h.answers.ended, 0)
	case err != nil:
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rotating key %s: %w", id.KeyID, err))
	}
	h.gate.Pass(now)
	h.logger.Info("key rotated by its consumer", zap.String("key_id", id.KeyID), zap.String("new_key_id", fresh.ID), zap.String("consumer", id.Consumer))
	w.Header().Set("Location", "/api_gateway/keys/"+fresh.ID)
	return gateway.WriteJSON(w, http.StatusCreated, fresh.ViewAt(key, now))
}

// refuse answers r through the gate, with Retry-After when retryAfter is
// positive.
func (h *KeyRotate) refuse(w http.ResponseWriter, r *http.Request, ans *gateway.Answer, retryAfter int) error {
	_, err := h.gate.RejectWith(w, r, ans, gateway.Extra{RetryAfter: retryAfter})
	return err
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*KeyRotate)(nil)
	_ caddy.Provisioner           = (*KeyRotate)(nil)
	_ caddy.Validator             = (*KeyRotate)(nil)
)
