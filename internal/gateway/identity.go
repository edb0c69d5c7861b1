package gateway

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Identity is who is calling, as established by one authentication method of
// api_auth. It never holds the credential.
type Identity struct {
	// Consumer is the caller: the key's consumer or the token's subject.
	Consumer string
	// Scopes the caller holds, in the order they were granted.
	Scopes []string
	// ScopeString is Scopes joined by single spaces.
	ScopeString string
	// KeyID is the public id of the API key used, if any.
	KeyID string
	// Method is the name of the method that authenticated the caller:
	// api_key, jwt, introspect or client_cert.
	Method string

	// Claims are the token claims the configuration exposes as
	// {http.auth.user.<name>} placeholders, rendered as strings. Set once when
	// the token is verified and shared by every request that repeats it: never
	// modify it.
	Claims map[string]string

	// Metadata are the string pairs of the API key's record (never secret),
	// keyed by the name of their placeholder, http.auth.user.meta.<name>.
	// Shared by every request made with the key: never modify it.
	Metadata map[string]string

	// Deprecation and Sunset are header values to send back when the credential
	// is deprecated (a rotated key in its grace period, or a key past max_age).
	Deprecation string
	Sunset      string
	// KeyInGrace is set when the API key used was rotated and is in its grace
	// period.
	KeyInGrace bool
}

// HasScope reports whether the identity holds scope.
func (id *Identity) HasScope(scope string) bool {
	return id != nil && slices.Contains(id.Scopes, scope)
}

// HasAll reports whether the identity holds every one of scopes.
func (id *Identity) HasAll(scopes []string) bool {
	for _, s := range scopes {
		if !id.HasScope(s) {
			return false
		}
	}
	return true
}

// HasAny reports whether the identity holds at least one of scopes, or whether
// scopes is empty.
func (id *Identity) HasAny(scopes []string) bool {
	if len(scopes) == 0 {
		return true
	}
	for _, s := range scopes {
		if id.HasScope(s) {
			return true
		}
	}
	return false
}

// identityVar is the request variable holding the caller's *Identity. Caddy's
// vars map is shared by every handler of a request, so a handler that ran
// before api_auth sees the identity once its next handler returns.
const identityVar = "apigate.identity"

// SetIdentity records the caller of r, for the handlers after api_auth.
func SetIdentity(r *http.Request, id *Identity) {
	caddyhttp.SetVar(r.Context(), identityVar, id)
}

// IdentityFrom returns the identity api_auth established for r, or nil.
func IdentityFrom(r *http.Request) *Identity {
	id, _ := caddyhttp.GetVar(r.Context(), identityVar).(*Identity)
	return id
}

// ClientIP returns the client address Caddy determined for r (honouring the
// server's trusted_proxies), or the zero Addr.
func ClientIP(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// AddrKey is the key under which a client address is counted (rate limits,
// lockouts): the address for IPv4, its /64 for IPv6, since one client usually
// holds a whole /64 and could otherwise rotate through its addresses.
func AddrKey(ip netip.Addr) string {
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
