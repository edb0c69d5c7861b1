package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

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

	minAge time.Duration
	app    *App
	logger *zap.Logger
	now    func() time.Time
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
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.app, h.logger, h.now = app, ctx.Logger(), time.Now
	h.minAge = DefaultRotateMinAge
	if h.MinAge != nil {
		h.minAge = time.Duration(*h.MinAge)
	}
	if h.minAge < 0 {
		return fmt.Errorf("min_age must not be negative")
	}
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	return nil
}

var (
	bodyRotateNeedsKey = problemBody(http.StatusUnauthorized, "rotating a key needs the API key itself as the credential")
	bodyRotateInGrace  = problemBody(http.StatusConflict, "this key was rotated already and is in its grace period: only the key it was rotated into can rotate")
	bodyRotateConflict = problemBody(http.StatusConflict, "this key expired or was revoked")
	bodyRotateTooSoon  = problemBody(http.StatusTooManyRequests, "this key is too new to be rotated again")
	bodyRotateMethod   = problemBody(http.StatusMethodNotAllowed, "use POST to rotate the key")
)

func (h *KeyRotate) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return writeProblem(w, http.StatusMethodNotAllowed, bodyRotateMethod)
	}
	id := identityFrom(r)
	if id == nil || id.Method != "api_key" || id.KeyID == "" {
		decisions.WithLabelValues("api_key_rotate", "no_key").Inc()
		w.Header().Set("WWW-Authenticate", challengeBare)
		return writeProblem(w, http.StatusUnauthorized, bodyRotateNeedsKey)
	}
	store := h.app.Store()
	now := h.now()
	rec, ok := store.Get(id.KeyID)
	if !ok {
		w.Header().Set("WWW-Authenticate", challengeInvalid)
		return writeProblem(w, http.StatusUnauthorized, bodyInvalidCred)
	}
	if rec.StatusAt(now) == keystore.StatusGrace {
		decisions.WithLabelValues("api_key_rotate", "conflict").Inc()
		return writeProblem(w, http.StatusConflict, bodyRotateInGrace)
	}
	if wait := rec.CreatedAt.Add(h.minAge).Sub(now); wait > 0 {
		decisions.WithLabelValues("api_key_rotate", "too_soon").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return writeProblem(w, http.StatusTooManyRequests, bodyRotateTooSoon)
	}
	fresh, _, key, err := store.Rotate(r.Context(), id.KeyID, -1, now)
	switch {
	case errors.Is(err, keystore.ErrRotated):
		decisions.WithLabelValues("api_key_rotate", "conflict").Inc()
		return writeProblem(w, http.StatusConflict, bodyRotateInGrace)
	case errors.Is(err, keystore.ErrConflict):
		decisions.WithLabelValues("api_key_rotate", "conflict").Inc()
		return writeProblem(w, http.StatusConflict, bodyRotateConflict)
	case err != nil:
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rotating key %s: %w", id.KeyID, err))
	}
	decisions.WithLabelValues("api_key_rotate", "rotated").Inc()
	h.logger.Info("key rotated by its consumer", zap.String("key_id", id.KeyID), zap.String("new_key_id", fresh.ID), zap.String("consumer", id.Consumer))
	w.Header().Set("Location", "/api_gateway/keys/"+fresh.ID)
	return writeJSON(w, http.StatusCreated, view(fresh, key, now))
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*KeyRotate)(nil)
	_ caddy.Provisioner           = (*KeyRotate)(nil)
)
