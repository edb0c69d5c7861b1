package apigate

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/keystore"
)

// Authorize is the api_authorize handler: it decides what an authenticated
// caller may call. It needs the identity api_auth established earlier in the
// route: without one the answer is 401. A caller without the scopes gets 403
// with `WWW-Authenticate: Bearer error="insufficient_scope"`.
//
// Route scoping uses Caddy's own matchers, so the rule applies to the path Caddy
// routes on: `handle /admin/* { api_authorize admin }`.
type Authorize struct {
	// All lists scopes the caller must hold every one of.
	All []string `json:"all,omitempty"`
	// Any lists scopes the caller must hold at least one of.
	Any []string `json:"any,omitempty"`
	// IPs lists client addresses (IPs or CIDR prefixes) allowed to call. Default:
	// any address. The client address honours the server's trusted_proxies.
	IPs []string `json:"ips,omitempty"`

	prefixes      []netip.Prefix
	challenge     string
	bodyForbidden []byte
	logger        *zap.Logger

	mAllowed, mNoIdentity, mIP, mScope prometheus.Counter
	mLatency                           prometheus.Observer
}

// CaddyModule returns the Caddy module information.
func (Authorize) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_authorize",
		New: func() caddy.Module { return new(Authorize) },
	}
}

// Provision renders the answers once.
func (az *Authorize) Provision(ctx caddy.Context) error {
	az.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	az.mAllowed = decisions.WithLabelValues("api_authorize", "allowed")
	az.mNoIdentity = decisions.WithLabelValues("api_authorize", "no_identity")
	az.mIP = decisions.WithLabelValues("api_authorize", "ip_not_allowed")
	az.mScope = decisions.WithLabelValues("api_authorize", "insufficient_scope")
	az.mLatency = latencyObserver("api_authorize")
	return az.provisionAnswers()
}

// provisionAnswers parses the addresses and renders the answers once.
func (az *Authorize) provisionAnswers() error {
	for _, s := range az.IPs {
		p, err := keystore.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("ip %q: not an IP address or CIDR prefix", s)
		}
		az.prefixes = append(az.prefixes, p)
	}
	required := strings.Join(append(append([]string(nil), az.All...), az.Any...), " ")
	az.challenge = fmt.Sprintf(`Bearer realm="api", error="insufficient_scope", scope="%s"`, required)
	detail := "the caller lacks the scopes this route requires"
	switch {
	case len(az.All) > 0 && len(az.Any) > 0:
		detail = fmt.Sprintf("this route requires the scopes [%s] and one of [%s]", strings.Join(az.All, " "), strings.Join(az.Any, " "))
	case len(az.All) > 0:
		detail = fmt.Sprintf("this route requires the scopes [%s]", strings.Join(az.All, " "))
	case len(az.Any) > 0:
		detail = fmt.Sprintf("this route requires one of the scopes [%s]", strings.Join(az.Any, " "))
	}
	az.bodyForbidden = problemBody(http.StatusForbidden, detail)
	return nil
}

// Validate checks the configuration.
func (az *Authorize) Validate() error {
	for _, s := range append(append([]string(nil), az.All...), az.Any...) {
		if !keystore.ValidScope(s) {
			return fmt.Errorf("scope %q is not valid", s)
		}
	}
	return nil
}

func (az *Authorize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	id := identityFrom(r)
	if id == nil {
		az.mNoIdentity.Inc()
		recordDecision(r, "api_authorize", "no_identity")
		w.Header().Set("WWW-Authenticate", challengeBare)
		return writeProblem(w, http.StatusUnauthorized, bodyUnauthenticated)
	}
	if len(az.prefixes) > 0 && !addrIn(clientIP(r), az.prefixes) {
		az.mIP.Inc()
		recordDecision(r, "api_authorize", "ip_not_allowed")
		az.debug("client address not allowed", id.Consumer)
		return writeProblem(w, http.StatusForbidden, bodyIPForbidden)
	}
	if !id.HasAll(az.All) || !id.HasAny(az.Any) {
		az.mScope.Inc()
		recordDecision(r, "api_authorize", "insufficient_scope")
		az.debug("insufficient scope", id.Consumer)
		w.Header().Set("WWW-Authenticate", az.challenge)
		return writeProblem(w, http.StatusForbidden, az.bodyForbidden)
	}
	az.mAllowed.Inc()
	observeSince(az.mLatency, start)
	return next.ServeHTTP(w, r)
}

func (az *Authorize) debug(msg, consumer string) {
	if c := az.logger.Check(zapcore.DebugLevel, msg); c != nil {
		c.Write(zap.String("consumer", consumer))
	}
}

func addrIn(addr netip.Addr, prefixes []netip.Prefix) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// MatchScope matches requests whose caller (established by api_auth earlier in
// the route) holds every one of the listed scopes. Requests without an identity
// do not match.
//
//	@admin api_scope admin
type MatchScope []string

// CaddyModule returns the Caddy module information.
func (MatchScope) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.api_scope",
		New: func() caddy.Module { return new(MatchScope) },
	}
}

// Validate checks the scopes.
func (m MatchScope) Validate() error {
	if len(m) == 0 {
		return fmt.Errorf("api_scope needs at least one scope")
	}
	for _, s := range m {
		if !keystore.ValidScope(s) {
			return fmt.Errorf("api_scope: scope %q is not valid", s)
		}
	}
	return nil
}

// MatchWithError reports whether the caller holds the scopes.
func (m MatchScope) MatchWithError(r *http.Request) (bool, error) {
	id := identityFrom(r)
	return id != nil && id.HasAll(m), nil
}

// Match reports whether the caller holds the scopes.
func (m MatchScope) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler       = (*Authorize)(nil)
	_ caddy.Provisioner                 = (*Authorize)(nil)
	_ caddy.Validator                   = (*Authorize)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchScope)(nil)
	_ caddy.Validator                   = (*MatchScope)(nil)
)

func validScopeToken(s string) bool { return keystore.ValidScope(s) }

func parsePrefixArg(s string) (netip.Prefix, error) { return keystore.ParsePrefix(s) }
