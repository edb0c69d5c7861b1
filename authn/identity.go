// Package authn is who is calling: the api_auth handler and its methods
// (api_key, jwt, introspect, client_cert), its lockout and upstream_token, and
// the api_jwks and api_key_rotate handlers, with their Caddyfile grammar.
//
// Beneath the Caddy modules, the logic does not depend on Caddy (APIKey, JWT,
// RemoteKeys, Introspector, ClientCert, Signer, TokenCache): it finds a
// credential in a request, checks it, and removes it from the request so the
// upstream never sees it; time and the client address are passed in.
package authn

import (
	"errors"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Identity is who is calling, as established by one authentication method. It
// never holds the credential. It is the gateway's identity, shared by every
// handler (internal/gateway).
type Identity = gateway.Identity

// ErrNoCredential means the request carries no credential for a method, so the
// next method may try.
var ErrNoCredential = errors.New("no credential")

// Rejection is a present but unacceptable credential. Code is the RFC 6750 error
// code; Reason says why, for logs and metrics only: it never contains the
// credential, and callers must not show it to the client when it would tell an
// unknown key from a revoked one.
type Rejection struct {
	Status int
	Code   string
	Reason string
	// Label names the rejection in metrics: a fixed word, never request data.
	Label string
	// Challenge, when set, is the WWW-Authenticate of the answer (a DPoP
	// challenge); else it is the Bearer challenge of Code.
	Challenge string
}

func (r *Rejection) Error() string { return "credential rejected: " + r.Reason }

// The rejections methods return. They are shared values, so a rejection does not
// allocate.
var (
	ErrMalformed    = &Rejection{Status: 401, Code: "invalid_token", Reason: "malformed", Label: "malformed"}
	ErrAmbiguous    = &Rejection{Status: 401, Code: "invalid_request", Reason: "more than one credential", Label: "ambiguous"}
	ErrUnknown      = &Rejection{Status: 401, Code: "invalid_token", Reason: "unknown", Label: "unknown"}
	ErrMismatch     = &Rejection{Status: 401, Code: "invalid_token", Reason: "mismatch", Label: "mismatch"}
	ErrRevoked      = &Rejection{Status: 401, Code: "invalid_token", Reason: "revoked", Label: "revoked"}
	ErrExpired      = &Rejection{Status: 401, Code: "invalid_token", Reason: "expired", Label: "expired"}
	ErrIPNotAllowed = &Rejection{Status: 403, Code: "insufficient_scope", Reason: "client address not allowed for this key", Label: "ip_not_allowed"}
)
