package gateway

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The subject token is the bearer token (a JWT or an opaque token) that
// api_auth verified on a request, handed to api_upstream_auth, which trades it
// for a token meant for the upstream (RFC 8693 token exchange).
//
// It is a credential: it is kept in the request's vars under a private key,
// which Caddy's {http.vars.*} placeholders cannot name, and must never be
// logged, put in a metric, an error, an event or storage. api_auth removes the
// caller's Authorization header (every credential carrier) before the
// upstream, so the token reaches nobody but api_upstream_auth. API-key and
// client-certificate callers have none.

// subjectTokenVar is the vars key of the subject token: it is not a valid
// placeholder name ({http.vars.<name>} stops at the first '}'), so a
// Caddyfile cannot print it.
const subjectTokenVar = "apigate.subject_token}"

// subjectToken is the stored form, so the token is never a bare string in
// the vars map that a handler dumping vars would render.
type subjectToken struct{ tok string }

// String hides the token from anything that formats the vars.
func (subjectToken) String() string { return "[redacted]" }

// SetSubjectToken records tok, the bearer token api_auth verified on r.
func SetSubjectToken(r *http.Request, tok string) {
	if tok != "" {
		caddyhttp.SetVar(r.Context(), subjectTokenVar, subjectToken{tok})
	}
}

// SubjectTokenFrom returns the bearer token api_auth verified on r, or "".
func SubjectTokenFrom(r *http.Request) string {
	st, _ := caddyhttp.GetVar(r.Context(), subjectTokenVar).(subjectToken)
	return st.tok
}

// BearerToken returns the token of an `Authorization: Bearer <token>` value
// (the scheme is case-insensitive), or "".
func BearerToken(authorization string) string {
	const scheme = "bearer "
	if len(authorization) <= len(scheme) || !strings.EqualFold(authorization[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(authorization[len(scheme):])
}
