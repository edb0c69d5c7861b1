package authn

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/keystore"
)

// RequireTLSConfig is api_auth's require_tls: a credential that arrives over
// plain HTTP is refused (403), since anyone on the path has seen it.
type RequireTLSConfig struct {
	// RevokeExposed revokes at once a valid API key that arrived over plain
	// HTTP, and emits key.leaked (reason cleartext). Default: false (the
	// request is refused, the key keeps working).
	RevokeExposed bool `json:"revoke_exposed,omitempty"`
}

// EventLeaked is the event of a key revoked because it leaked: seen in clear
// text (reason cleartext), reported to api_key_leak (reported) or by GitHub's
// secret scanning (github). Its data are the key's id and consumer and the
// reason, never the key.
const EventLeaked = "key.leaked"

// The reasons of key.leaked.
const (
	LeakCleartext = "cleartext"
	LeakReported  = "reported"
	LeakGitHub    = "github"
)

// OverTLS reports whether r reached the gateway over TLS: its own connection
// is TLS, or a proxy that the server's trusted_proxies trusts ended TLS and
// says so with X-Forwarded-Proto: https. The header of any other client is
// ignored, as it is the client's word; every value the header holds must be
// https (a chain of proxies where one hop was plain HTTP is not TLS).
func OverTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !fromTrustedProxy(r) {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if !strings.EqualFold(strings.TrimSpace(p), "https") {
				return false
			}
		}
	}
	return true
}

// fromTrustedProxy reports whether r came from a proxy that the server's
// trusted_proxies trusts: only then are its X-Forwarded-* headers believed.
func fromTrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// refuseCleartext answers a request that carries a credential over plain
// HTTP: with revoke_exposed, a valid API key among its carriers is revoked
// first. No credential goes on.
func (a *Auth) refuseCleartext(w http.ResponseWriter, r *http.Request, now time.Time) error {
	if a.RequireTLS.RevokeExposed {
		a.revokeExposed(r, now)
	}
	a.carriers.Strip(r)
	r.Header.Del("Authorization")
	return a.refuse(w, r, a.answers.tlsRequired, noExtra)
}

// revokeExposed revokes the API key r carries, if it is valid now: a key
// that does not work needs no revoking, and revoking a key by its public id
// alone would let anyone end anyone's key.
func (a *Auth) revokeExposed(r *http.Request, now time.Time) {
	for _, k := range a.keyMethods {
		key, _, err := k.find(r)
		if err != nil {
			continue
		}
		e, res := k.Keys.Authenticate(key, now)
		if res != keystore.Accepted {
			return
		}
		revokeLeaked(r.Context(), a.app, a.logger, e.Record.ID, e.Record.Consumer, LeakCleartext, now)
		return
	}
}

// revokeLeaked revokes key id and every key it was rotated into, and emits
// key.leaked. Whoever held the leaked key could have rotated it into a key
// of their own, so its successors go too, as they do on the admin API's
// revocation by default. A failure is logged: the caller's answer does not
// change.
func revokeLeaked(ctx context.Context, app interface {
	Store() *keystore.Store
	Emit(string, map[string]any)
}, logger *zap.Logger, id, consumer, reason string, now time.Time) bool {
	if _, _, err := app.Store().Revoke(context.WithoutCancel(ctx), id, keystore.WithSuccessors, now); err != nil {
		logger.Error("revoking a leaked key", zap.String("key_id", id), zap.String("reason", reason), zap.Error(err))
		return false
	}
	logger.Warn("leaked key revoked", zap.String("key_id", id), zap.String("consumer", consumer), zap.String("reason", reason))
	app.Emit(EventLeaked, map[string]any{"id": id, "consumer": consumer, "reason": reason})
	return true
}
