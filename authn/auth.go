package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Auth is the api_auth handler: it establishes who is calling. Methods are tried
// in order; the first whose credential is present decides, and a present but
// invalid credential is answered 401 without trying the others. A request with
// no credential for any method is answered 401 too: to let anonymous callers
// through, do not put api_auth on their route.
//
// A request holding more than one credential (two values in the places any
// configured method reads credentials from, see AuthMethod.Carriers) is
// answered 401 invalid_request before any method runs, even when both are
// the same: which one to believe is a guess the gateway does not make.
//
// On success it sets the placeholders {http.auth.user.id} (the consumer),
// {http.auth.user.scopes} (space-separated), {http.auth.user.key_id} and
// {http.auth.user.method}. Once a method has decided, every carrier of every
// method is removed from the request, so only the verified credential's
// effect reaches the upstream.
type Auth struct {
	// MethodsRaw are the authentication methods, tried in order.
	MethodsRaw []json.RawMessage `json:"methods,omitempty" caddy:"namespace=apigate.auth_methods inline_key=method"`

	// UpstreamToken, when set, hands the upstream a short-lived JWT signed by
	// the gateway for every authenticated request. Default: off.
	UpstreamToken *UpstreamTokenConfig `json:"upstream_token,omitempty"`

	// Lockout locks out client IPs that send too many rejected credentials.
	// Default: none.
	Lockout *LockoutConfig `json:"lockout,omitempty"`

	// RequireTLS refuses (403) a credential that arrives over plain HTTP; TLS
	// ended by a proxy the server's trusted_proxies trusts counts as TLS.
	// Default: off.
	RequireTLS *RequireTLSConfig `json:"require_tls,omitempty"`

	methods []AuthMethod
	app     gateway.App
	logger  *zap.Logger
	now     func() time.Time
	gate    *gateway.Gate
	answers *answers

	// carriers are those of every method, joined at provision.
	carriers Carriers
	// keyMethods are the api_key methods, for require_tls revoke_exposed.
	keyMethods []*APIKey
	// takesDPoP is set when a method checks DPoP proofs: the DPoP header is
	// then a credential, taken off every request api_auth passes on.
	takesDPoP bool
}

// AuthMethod is an authentication method of api_auth: a module in the
// apigate.auth_methods namespace.
type AuthMethod interface {
	// Authenticate returns the caller's identity, ErrNoCredential when the
	// request carries no credential for this method, or a *Rejection. It
	// removes the credential it found from r.
	Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error)

	// Carriers returns every place of a request the method reads a
	// credential from, whatever the credential's shape: api_auth counts a
	// value there as a credential, and removes them all once a method has
	// decided. Called once, after Provision.
	Carriers() Carriers
}

// BearerTaker is implemented by the methods that check Bearer tokens
// somewhere other than the gateway's key store (jwt, introspect: an identity
// provider's tokens). api_auth never hands such a method a Bearer token shaped
// like one of the gateway's API keys, whatever the order the methods are
// written in, so an API key never reaches an identity provider.
type BearerTaker interface {
	// TakesBearer reports whether the method reads Bearer tokens.
	TakesBearer() bool
}

// keyHolder is implemented by the methods that check the gateway's API keys
// (api_key): require_tls revoke_exposed asks them which key a request
// carries, so that api_auth needs to know no method's type.
type keyHolder interface{ apiKeys() *APIKey }

// rejecter is implemented by the methods with rejections of their own
// (jwt's DPoP rejections, which carry its challenge): api_auth builds their
// answers at provision.
type rejecter interface{ rejections() []*Rejection }

// starter is implemented by the methods with background work (jwt's JWKS
// refresh); api_auth starts it once the methods have been provisioned and
// validated, so an invalid configuration never reaches the network.
type starter interface{ start() }

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision loads the methods (with their defaults: API keys when none is
// named) and connects the lockout and the upstream token to the app.
func (a *Auth) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.now == nil {
		a.now = time.Now
	}
	g, err := gateway.NewGate(ctx, "api_auth", gateway.Enforce)
	if err != nil {
		return err
	}
	a.gate = g
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	a.app = app
	if len(a.MethodsRaw) == 0 {
		a.MethodsRaw = []json.RawMessage{json.RawMessage(`{"method":"api_key"}`)}
	}
	mods, err := ctx.LoadModule(a, "MethodsRaw")
	if err != nil {
		return fmt.Errorf("loading authentication methods: %w", err)
	}
	methods := make([]AuthMethod, 0, len(a.MethodsRaw))
	for _, m := range mods.([]any) {
		methods = append(methods, m.(AuthMethod))
	}
	a.use(methods, app.Store().Policy().Prefix)
	var more []*Rejection
	for _, m := range methods {
		if r, ok := m.(rejecter); ok {
			more = append(more, r.rejections()...)
		}
	}
	a.answers = newAnswers(g, more...)
	if a.UpstreamToken != nil {
		if err := a.UpstreamToken.provision(app); err != nil {
			return err
		}
	}
	if a.Lockout != nil {
		if err := a.Lockout.provision(ctx, app, a.logger); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the lockout and the upstream token (each method is
// validated when it is loaded).
func (a *Auth) Validate() error {
	if a.Lockout != nil {
		if err := a.Lockout.Validate(); err != nil {
			return err
		}
	}
	if a.UpstreamToken != nil {
		return a.UpstreamToken.Validate()
	}
	return nil
}

// use sets the methods tried, in order, and the carriers stripped, and
// starts the methods' background work. A method that takes Bearer tokens is
// given none shaped like a key of prefix.
func (a *Auth) use(methods []AuthMethod, prefix string) {
	a.methods, a.carriers, a.keyMethods, a.takesDPoP = nil, Carriers{}, nil, false
	for _, m := range methods {
		if rj, ok := m.(rejecter); ok && len(rj.rejections()) > 0 {
			a.takesDPoP = true
		}
		if kh, ok := m.(keyHolder); ok {
			a.keyMethods = append(a.keyMethods, kh.apiKeys())
		}
		tried := m
		if bt, ok := m.(BearerTaker); ok && bt.TakesBearer() {
			tried = skipAPIKeys{m, prefix}
		}
		a.methods = append(a.methods, tried)
		a.carriers.Add(m.Carriers())
		if s, ok := m.(starter); ok {
			s.start()
		}
	}
}

// skipAPIKeys leaves Bearer tokens that look like API keys to the api_key
// method: a token method must never send an API key to an identity provider.
type skipAPIKeys struct {
	AuthMethod
	prefix string
}

func (s skipAPIKeys) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	if IsAPIKeyBearer(r, s.prefix) {
		return nil, ErrNoCredential
	}
	return s.AuthMethod.Authenticate(r, clientIP, now)
}

// TakesBearer reports that the wrapped method takes Bearer tokens.
func (skipAPIKeys) TakesBearer() bool { return true }

func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	now := a.now()
	ip := gateway.ClientIP(r)
	if a.Lockout != nil {
		if d := a.Lockout.lockedFor(now, ip); d > 0 {
			return a.refuse(w, r, a.answers.lockedOut, gateway.Extra{RetryAfter: retryAfter(d)})
		}
	}
	carried := a.carriers.Count(r)
	if a.RequireTLS != nil && (carried > 0 || len(r.Header.Values("Authorization")) > 0) && !OverTLS(r) {
		return a.refuseCleartext(w, r, now)
	}
	if carried > 1 {
		// Two credentials (a valid key beside a forged token, two keys, one
		// key twice): no method may pick one and let the other through.
		a.carriers.Strip(r)
		a.failed(now, ip, ErrAmbiguous)
		return a.refuse(w, r, a.answers.of(ErrAmbiguous), noExtra)
	}
	// The bearer token, kept for api_upstream_auth (token exchange) should a
	// token method accept it: the carriers are stripped below.
	subject := r.Header.Get("Authorization")
	for _, m := range a.methods {
		id, err := m.Authenticate(r, ip, now)
		if errors.Is(err, ErrNoCredential) {
			continue
		}
		// A method decided: whatever the outcome, no credential goes on.
		a.strip(r)
		if err != nil {
			rej, ok := err.(*Rejection)
			if !ok {
				rej = ErrMalformed
			}
			a.failed(now, ip, rej)
			return a.refuse(w, r, a.answers.of(rej), noExtra)
		}
		if a.UpstreamToken != nil && !a.UpstreamToken.apply(r, id, now, a.logger) {
			return a.refuse(w, r, a.answers.signing, noExtra)
		}
		if bt, ok := m.(BearerTaker); ok && bt.TakesBearer() {
			gateway.SetSubjectToken(r, gateway.BearerToken(subject))
		}
		a.accept(w, r, id)
		if id.KeyInGrace {
			a.app.NoteGraceUse(id.KeyID, id.Consumer, now)
		}
		a.gate.Pass(now)
		return next.ServeHTTP(w, r)
	}
	if carried > 0 || len(r.Header.Values("Authorization")) > 0 {
		// A credential was sent that no method could use (a malformed or empty
		// token, another scheme): the same answer as any invalid credential.
		a.carriers.Strip(r)
		r.Header.Del("Authorization")
		a.failed(now, ip, ErrMalformed)
		return a.refuse(w, r, a.answers.of(ErrMalformed), noExtra)
	}
	return a.refuse(w, r, a.answers.none, noExtra)
}

// refuse answers r through the gate (api_auth has no report mode).
func (a *Auth) refuse(w http.ResponseWriter, r *http.Request, ans *gateway.Answer, x gateway.Extra) error {
	_, err := a.gate.RejectWith(w, r, ans, x)
	return err
}

// strip takes every carrier off r, and the DPoP proofs when a method reads
// them, so that no upstream sees one, whichever method accepted the request.
// (Caddy's logs record the request as it arrived: see
// docs/replay-protection.md.)
func (a *Auth) strip(r *http.Request) {
	a.carriers.Strip(r)
	if a.takesDPoP {
		delete(r.Header, "Dpop")
	}
}

// failed counts a rejected credential toward the lockout. A credential that
// could not be checked (an identity provider down: 503) is not a failed login.
func (a *Auth) failed(now time.Time, ip netip.Addr, rej *Rejection) {
	if a.Lockout != nil && rej.Status != http.StatusServiceUnavailable {
		a.Lockout.fail(now, ip)
	}
}

func (a *Auth) accept(w http.ResponseWriter, r *http.Request, id *Identity) {
	gateway.SetIdentity(r, id)
	gateway.AnnotateIdentity(r, id)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", id.Consumer)
		repl.Set("http.auth.user.scopes", id.ScopeString)
		repl.Set("http.auth.user.key_id", id.KeyID)
		repl.Set("http.auth.user.method", id.Method)
		for name, val := range id.Claims {
			repl.Set("http.auth.user."+name, val)
		}
		for placeholder, val := range id.Metadata {
			repl.Set(placeholder, val)
		}
	}
	if id.Deprecation != "" {
		h := w.Header()
		h.Set("Deprecation", id.Deprecation)
		if id.Sunset != "" {
			h.Set("Sunset", id.Sunset)
		}
	}
	if c := a.logger.Check(zapcore.DebugLevel, "authenticated"); c != nil {
		c.Write(zap.String("consumer", id.Consumer), zap.String("key_id", id.KeyID), zap.String("method", id.Method))
	}
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
)
