// Package authn turns credentials into identities: it finds a credential in a
// request, checks it, and removes it from the request so the upstream never sees
// it. It does not depend on Caddy; time and the client address are passed in.
package authn

import (
	"errors"
	"slices"
)

// Identity is who is calling, as established by one authentication method. It
// never holds the credential.
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
