// Package authz holds api_authorize, which decides what an authenticated
// caller may call, and the api_scope request matcher.
package authz

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
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
	// Mode is enforce or report. In report mode a request the rule would
	// refuse passes on; the refusal is logged, counted as
	// decisions_total{outcome="report"}, written to the audit record as
	// would_reject and added to the trace span. Default: enforce.
	Mode gateway.Mode `json:"mode,omitempty"`

	prefixes []netip.Prefix
	gate     *gateway.Gate
	// The refusals, built once.
	noIdentity, ipNotAllowed, insufficientScope *gateway.Answer
}

// CaddyModule returns the Caddy module information.
func (Authorize) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_authorize",
		New: func() caddy.Module { return new(Authorize) },
	}
}

// Provision parses the addresses and builds the refusals once.
func (az *Authorize) Provision(ctx caddy.Context) error {
	g, err := gateway.NewGate(ctx, "api_authorize", az.Mode)
	if err != nil {
		return err
	}
	az.gate = g
	for _, s := range az.IPs {
		// Validate refuses an address that does not parse; ServeHTTP
		// refuses every client while IPs is set and none parsed.
		if p, err := gateway.ParsePrefix(s); err == nil {
			az.prefixes = append(az.prefixes, p)
		}
	}
	required := strings.Join(append(append([]string(nil), az.All...), az.Any...), " ")
	az.noIdentity = g.Answer(http.StatusUnauthorized, "no_identity", gateway.DetailUnauthenticated,
		"WWW-Authenticate", gateway.ChallengeBare)
	az.ipNotAllowed = g.Answer(http.StatusForbidden, "ip_not_allowed", "this API may not be called from the client's address")
	az.insufficientScope = g.Answer(http.StatusForbidden, "insufficient_scope", az.scopeDetail(),
		"WWW-Authenticate", fmt.Sprintf(`Bearer realm="api", error="insufficient_scope", scope="%s"`, required))
	return nil
}

// scopeDetail tells the caller which scopes the route requires.
func (az *Authorize) scopeDetail() string {
	all, anyOf := strings.Join(az.All, " "), strings.Join(az.Any, " ")
	switch {
	case all != "" && anyOf != "":
		return fmt.Sprintf("this route requires the scopes [%s] and one of [%s]", all, anyOf)
	case all != "":
		return fmt.Sprintf("this route requires the scopes [%s]", all)
	case anyOf != "":
		return fmt.Sprintf("this route requires one of the scopes [%s]", anyOf)
	}
	return "the caller lacks the scopes this route requires"
}

// Validate checks the scopes, the addresses and the mode.
func (az *Authorize) Validate() error {
	for _, s := range az.All {
		if msg := gateway.CheckScope(s); msg != "" {
			return fmt.Errorf("all: %s", msg)
		}
	}
	for _, s := range az.Any {
		if msg := gateway.CheckScope(s); msg != "" {
			return fmt.Errorf("any: %s", msg)
		}
	}
	for _, s := range az.IPs {
		if msg := gateway.CheckIP(s); msg != "" {
			return fmt.Errorf("ips: %s", msg)
		}
	}
	return az.Mode.Validate()
}

func (az *Authorize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	if refusal := az.refusal(r); refusal != nil {
		if done, err := az.gate.Reject(w, r, refusal); done {
			return err
		}
		// Report mode: the gate recorded what it would have refused.
		return next.ServeHTTP(w, r)
	}
	az.gate.Pass(start)
	return next.ServeHTTP(w, r)
}

// refusal returns the answer the rule gives r, or nil when r may pass.
func (az *Authorize) refusal(r *http.Request) *gateway.Answer {
	id := gateway.IdentityFrom(r)
	switch {
	case id == nil:
		return az.noIdentity
	case len(az.IPs) > 0 && !addrIn(gateway.ClientIP(r), az.prefixes):
		return az.ipNotAllowed
	case !id.HasAll(az.All) || !id.HasAny(az.Any):
		return az.insufficientScope
	}
	return nil
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

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Authorize)(nil)
	_ caddy.Provisioner           = (*Authorize)(nil)
	_ caddy.Validator             = (*Authorize)(nil)
)
