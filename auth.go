package apigate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/authn"
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

	methods []AuthMethod
	app     *App
	logger  *zap.Logger
	now     func() time.Time

	// carriers are those of every method, joined at provision.
	carriers authn.Carriers

	mAllowed, mNoCredential prometheus.Counter
	mLatency                prometheus.Observer
}

// AuthMethod is an authentication method of api_auth: a module in the
// apigate.auth_methods namespace.
type AuthMethod interface {
	// Authenticate returns the caller's identity, authn.ErrNoCredential when the
	// request carries no credential for this method, or an *authn.Rejection. It
	// removes the credential it found from r.
	Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*authn.Identity, error)

	// Carriers returns every place of a request the method reads a
	// credential from, whatever the credential's shape: api_auth counts a
	// value there as a credential, and removes them all once a method has
	// decided. Called once, after Provision.
	Carriers() authn.Carriers
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision loads the methods.
func (a *Auth) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.now == nil {
		a.now = time.Now
	}
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	a.mAllowed = decisions.WithLabelValues("api_auth", "allowed")
	a.mNoCredential = decisions.WithLabelValues("api_auth", "no_credential")
	a.mLatency = latencyObserver("api_auth")
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	a.app = app
	if len(a.MethodsRaw) == 0 {
		// No method named: API keys with their defaults.
		a.MethodsRaw = []json.RawMessage{json.RawMessage(`{"method":"api_key"}`)}
	}
	mods, err := ctx.LoadModule(a, "MethodsRaw")
	if err != nil {
		return fmt.Errorf("loading authentication methods: %w", err)
	}
	prefix := app.Store().Policy().Prefix
	for _, m := range mods.([]any) {
		method := m.(AuthMethod)
		switch m.(type) {
		case *JWTMethod, *IntrospectMethod:
			method = skipAPIKeys{method, prefix}
		}
		a.addMethod(method)
	}
	if a.UpstreamToken != nil {
		if err := a.UpstreamToken.provision(ctx); err != nil {
			return err
		}
	}
	if a.Lockout != nil {
		if err := a.Lockout.provision(ctx, a.logger); err != nil {
			return err
		}
	}
	return nil
}

// addMethod appends m to the methods tried and its carriers to those
// stripped.
func (a *Auth) addMethod(m AuthMethod) {
	a.methods = append(a.methods, m)
	a.carriers.Add(m.Carriers())
}

// skipAPIKeys leaves Bearer tokens that look like API keys to the api_key
// method: a token method must never send an API key to an identity provider.
type skipAPIKeys struct {
	AuthMethod
	prefix string
}

func (s skipAPIKeys) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*authn.Identity, error) {
	if authn.IsAPIKeyBearer(r, s.prefix) {
		return nil, authn.ErrNoCredential
	}
	return s.AuthMethod.Authenticate(r, clientIP, now)
}

// identityFrom returns the identity api_auth established for r, or nil.
func identityFrom(r *http.Request) *authn.Identity { return gateway.IdentityFrom(r) }

// clientIP returns the client address Caddy determined, or the zero Addr.
func clientIP(r *http.Request) netip.Addr { return gateway.ClientIP(r) }

func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	now := a.now()
	ip := clientIP(r)
	if a.Lockout != nil {
		if d := a.Lockout.lockedFor(now, ip); d > 0 {
			return a.Lockout.reject(w, d)
		}
	}
	carried := a.carriers.Count(r)
	if carried > 1 {
		// Two credentials (a valid key beside a forged token, two keys, one
		// key twice): no method may pick one and let the other through.
		a.carriers.Strip(r)
		if a.Lockout != nil {
			a.Lockout.fail(now, ip)
		}
		return a.reject(w, r, authn.ErrAmbiguous)
	}
	subject := r.Header.Get("Authorization") // the bearer token a jwt or introspect method verifies, for api_upstream_auth
	for _, m := range a.methods {
		id, err := m.Authenticate(r, ip, now)
		if errors.Is(err, authn.ErrNoCredential) {
			continue
		}
		// A method decided: whatever the outcome, no credential goes on.
		a.carriers.Strip(r)
		if err != nil {
			// A credential that could not be checked (an identity provider
			// down: 503) is not a failed login.
			if rej, ok := err.(*authn.Rejection); a.Lockout != nil && (!ok || rej.Status != http.StatusServiceUnavailable) {
				a.Lockout.fail(now, ip)
			}
			return a.reject(w, r, err)
		}
		if a.UpstreamToken != nil {
			if ok, err := a.applyUpstreamToken(w, r, id, now); !ok {
				return err
			}
		}
		if id.Method == "jwt" || id.Method == "introspect" {
			gateway.SetSubjectToken(r, gateway.BearerToken(subject))
		}
		a.mAllowed.Inc()
		a.accept(w, r, id)
		if id.KeyInGrace && a.app != nil {
			a.app.noteGraceUse(id.KeyID, id.Consumer, now)
		}
		observeSince(a.mLatency, now)
		return next.ServeHTTP(w, r)
	}
	if carried > 0 || len(r.Header.Values("Authorization")) > 0 {
		// A credential was sent that no method could use (a malformed or empty
		// token, another scheme): the same answer as any invalid credential.
		a.carriers.Strip(r)
		r.Header.Del("Authorization")
		if a.Lockout != nil {
			a.Lockout.fail(now, ip)
		}
		return a.reject(w, r, authn.ErrMalformed)
	}
	a.mNoCredential.Inc()
	recordDecision(r, "api_auth", "no_credential")
	if c := a.logger.Check(zapcore.DebugLevel, "no credential"); c != nil {
		c.Write(zap.String("client_ip", ip.String()))
	}
	w.Header().Set("WWW-Authenticate", challengeBare)
	return writeProblem(w, http.StatusUnauthorized, bodyUnauthenticated)
}

func (a *Auth) accept(w http.ResponseWriter, r *http.Request, id *authn.Identity) {
	gateway.SetIdentity(r, id)
	annotateIdentity(r, id)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", id.Consumer)
		repl.Set("http.auth.user.scopes", id.ScopeString)
		repl.Set("http.auth.user.key_id", id.KeyID)
		repl.Set("http.auth.user.method", id.Method)
		for name, val := range id.Claims {
			repl.Set("http.auth.user."+name, val)
		}
		for name, val := range id.Metadata {
			repl.Set("http.auth.user.meta."+name, val)
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

// reject answers a present but unacceptable credential. Unknown, revoked,
// expired, mistyped and malformed keys get the same bytes.
func (a *Auth) reject(w http.ResponseWriter, r *http.Request, err error) error {
	rej, ok := err.(*authn.Rejection)
	if !ok {
		rej = authn.ErrMalformed
	}
	decisions.WithLabelValues("api_auth", rej.Label).Inc()
	recordDecision(r, "api_auth", rej.Label)
	if c := a.logger.Check(zapcore.DebugLevel, "credential rejected"); c != nil {
		c.Write(zap.String("reason", rej.Reason))
	}
	switch rej {
	case authn.ErrIPNotAllowed:
		return writeProblem(w, http.StatusForbidden, bodyIPNotAllowed)
	case authn.ErrAmbiguous:
		w.Header().Set("WWW-Authenticate", challengeRequest)
		return writeProblem(w, http.StatusUnauthorized, bodyAmbiguous)
	}
	if rej.Status == http.StatusServiceUnavailable {
		// The credential could not be checked (the identity provider is down):
		// not the caller's fault, and worth a retry.
		w.Header().Set("Retry-After", "5")
		return writeProblem(w, http.StatusServiceUnavailable, bodyIdPUnavailable)
	}
	w.Header().Set("WWW-Authenticate", challengeInvalid)
	return writeProblem(w, http.StatusUnauthorized, bodyInvalidCred)
}

// APIKeyMethod authenticates with the gateway's API keys (method "api_key").
type APIKeyMethod struct {
	// Header is the request header that carries the key. Default: X-API-Key.
	// `Authorization: Bearer <key>` is always accepted too.
	Header string `json:"header,omitempty"`

	// Query is the name of a query parameter that may carry the key. Default:
	// none (off). Keys in URLs end up in logs and browser histories: prefer the
	// header.
	Query string `json:"query,omitempty"`

	keys    authn.APIKey
	release func() // forgets the carriers registered at provision
}

// CaddyModule returns the Caddy module information.
func (APIKeyMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.api_key",
		New: func() caddy.Module { return new(APIKeyMethod) },
	}
}

// Provision connects the method to the key store.
func (m *APIKeyMethod) Provision(ctx caddy.Context) error {
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	if m.Header == "" {
		m.Header = "X-API-Key"
	}
	m.keys = authn.APIKey{
		Header: http.CanonicalHeaderKey(m.Header),
		Query:  m.Query,
		Prefix: app.Store().Policy().Prefix,
		Keys:   app.Store(),
	}
	// api_cache must know where keys travel, wherever it sits.
	m.release = gateway.RegisterCarriers(m.Header, m.Query)
	return nil
}

// Cleanup forgets the carriers Provision registered.
func (m *APIKeyMethod) Cleanup() error {
	if m.release != nil {
		m.release()
	}
	return nil
}

// Carriers returns where the method reads keys.
func (m *APIKeyMethod) Carriers() authn.Carriers { return m.keys.Carriers() }

// Authenticate checks the API key r carries, if any.
func (m *APIKeyMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*authn.Identity, error) {
	return m.keys.Authenticate(r, clientIP, now)
}

// Validate checks the configuration.
func (m *APIKeyMethod) Validate() error {
	if !validToken(m.Header) {
		return fmt.Errorf("api_key: header %q is not a valid header name", m.Header)
	}
	if m.Query != "" && !validToken(m.Query) {
		return fmt.Errorf("api_key: query %q is not a valid parameter name", m.Query)
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (header names, and the
// names we accept for query parameters).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Provisioner           = (*APIKeyMethod)(nil)
	_ caddy.Validator             = (*APIKeyMethod)(nil)
	_ caddy.CleanerUpper          = (*APIKeyMethod)(nil)
	_ AuthMethod                  = (*APIKeyMethod)(nil)
)
