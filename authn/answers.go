package authn

import (
	"net/http"
	"slices"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// answers are api_auth's refusals, built once at provision. Unknown, revoked,
// expired, mistyped and malformed credentials get the same bytes: only the
// reason in the metrics, the log and the audit record tells them apart.
type answers struct {
	none, lockedOut, signing *gateway.Answer
	tlsRequired              *gateway.Answer
	invalid, unavailable     *gateway.Answer
	byRejection              map[*Rejection]*gateway.Answer
}

// rejections are the refusals the methods of this package make, each
// answered under its own reason.
var rejections = []*Rejection{
	ErrMalformed, ErrAmbiguous, ErrUnknown, ErrMismatch, ErrRevoked, ErrExpired, ErrIPNotAllowed,
	ErrInvalidToken, ErrUnknownKey, ErrNotYetValid, ErrClaims,
	ErrIdPUnavailable, ErrInactive, ErrCertNotVerified,
	ErrCertBinding, ErrUnbound, ErrDPoP, ErrDPoPReplayed,
}

const (
	detailInvalid     = "the credential sent is not valid"
	detailUnavailable = "the credential could not be checked now; retry later"
)

func newAnswers(g *gateway.Gate, more ...*Rejection) *answers {
	as := &answers{
		none: g.Answer(http.StatusUnauthorized, "no_credential", gateway.DetailUnauthenticated,
			"WWW-Authenticate", gateway.ChallengeBare),
		lockedOut: g.Answer(http.StatusTooManyRequests, "locked_out",
			"too many failed authentications from this address; retry after the time in Retry-After"),
		signing: g.Answer(http.StatusServiceUnavailable, "upstream_token_failed",
			"the gateway could not sign a token for the upstream; retry later", "Retry-After", "5"),
		tlsRequired: g.Answer(http.StatusForbidden, "tls_required",
			"credentials must be sent over HTTPS: this one crossed the network in clear text; use https:// and treat the credential as exposed"),
		byRejection: make(map[*Rejection]*gateway.Answer, len(rejections)),
	}
	for _, rej := range slices.Concat(rejections, more) {
		as.byRejection[rej] = answerOf(g, rej)
	}
	as.invalid, as.unavailable = as.byRejection[ErrInvalidToken], as.byRejection[ErrIdPUnavailable]
	return as
}

func answerOf(g *gateway.Gate, rej *Rejection) *gateway.Answer {
	switch {
	case rej == ErrAmbiguous:
		return g.Answer(http.StatusUnauthorized, rej.Label, "the request carries more than one credential",
			"WWW-Authenticate", gateway.ChallengeRequest)
	case rej == ErrIPNotAllowed:
		return g.Answer(http.StatusForbidden, rej.Label, "this key may not be used from the client's address")
	case rej.Challenge != "":
		return g.Answer(http.StatusUnauthorized, rej.Label, detailInvalid, "WWW-Authenticate", rej.Challenge)
	case rej.Status == http.StatusServiceUnavailable:
		// Not the caller's fault, and worth a retry.
		return g.Answer(http.StatusServiceUnavailable, rej.Label, detailUnavailable, "Retry-After", "5")
	}
	return g.Answer(http.StatusUnauthorized, rej.Label, detailInvalid, "WWW-Authenticate", gateway.ChallengeInvalid)
}

// of returns the answer to rej. A rejection of a method from another package
// gets the answer of its status, under the reason of the generic one.
func (as *answers) of(rej *Rejection) *gateway.Answer {
	if a, ok := as.byRejection[rej]; ok {
		return a
	}
	if rej.Status == http.StatusServiceUnavailable {
		return as.unavailable
	}
	return as.invalid
}

// noExtra is a refusal with nothing added for the request.
var noExtra = gateway.Extra{}

// retryAfter is d in whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
