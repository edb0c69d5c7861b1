package cache

import (
	"net/http"
	"time"
)

// Policy is how a gateway decides what to store.
type Policy struct {
	// DefaultTTL is the freshness lifetime given to responses for which the
	// upstream stated none (no s-maxage, max-age or Expires). Zero stores only
	// responses the upstream marked fresh.
	DefaultTTL time.Duration
	// SharePublic lets responses marked `Cache-Control: public` be shared by
	// every consumer rather than kept in the caller's partition.
	SharePublic bool
}

// Decision is what to do with an upstream response.
type Decision struct {
	// Store is true when the response may be stored.
	Store bool
	// Shared is true when it may be served to every consumer.
	Shared bool
	// Lifetime is its freshness lifetime and InitialAge its age on arrival
	// (RFC 9111 section 4.2).
	Lifetime, InitialAge time.Duration
	// Reason says why it was not stored: a fixed word for logs and tests.
	Reason string
}

// heuristic reports whether status may be stored with DefaultTTL when the
// upstream gave no freshness: successful answers only. Redirects and "not
// found" answers are stored only with an explicit freshness.
func heuristic(status int) bool {
	return status == http.StatusOK || status == http.StatusNonAuthoritativeInfo || status == http.StatusNoContent
}

// explicitOK lists the statuses stored when the upstream states a freshness.
func explicitOK(status int) bool {
	switch status {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusNoContent,
		http.StatusMultipleChoices, http.StatusMovedPermanently, http.StatusPermanentRedirect,
		http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

// Decide applies RFC 9111 for a shared cache to an upstream response to a GET
// received at now: req are the request's directives, h the response headers.
//
// Not stored: request no-store; statuses other than 200, 203, 204 (and 300,
// 301, 308, 404, 410 with an explicit freshness); no-store, private or no-cache
// (qualified or not) in the response; Set-Cookie; Vary: *; Content-Range; a
// response already stale on arrival. s-maxage wins over max-age, which wins
// over Expires; DefaultTTL applies only when none is given. It is one
// algorithm, the RFC's list of conditions in order, and reads better whole.
func Decide(status int, h http.Header, req Directives, now time.Time, p Policy) Decision {
	if req.NoStore {
		return Decision{Reason: "request-no-store"}
	}
	if !explicitOK(status) {
		return Decision{Reason: "status"}
	}
	cc := ParseCacheControl(h["Cache-Control"])
	switch {
	case cc.NoStore:
		return Decision{Reason: "no-store"}
	case cc.Private:
		return Decision{Reason: "private"}
	case cc.NoCache:
		return Decision{Reason: "no-cache"}
	case len(h["Set-Cookie"]) > 0:
		return Decision{Reason: "set-cookie"}
	case len(h["Content-Range"]) > 0:
		return Decision{Reason: "partial"}
	}
	if _, star := VaryNames(h); star {
		return Decision{Reason: "vary-star"}
	}
	date, dateOK := parseHTTPDate(h["Date"])
	if !dateOK {
		date = now
	}
	var lifetime time.Duration
	switch {
	case cc.SMaxAge >= 0:
		lifetime = time.Duration(cc.SMaxAge) * time.Second
	case cc.MaxAge >= 0:
		lifetime = time.Duration(cc.MaxAge) * time.Second
	case len(h["Expires"]) > 0:
		exp, ok := parseHTTPDate(h["Expires"])
		if ok && len(h["Expires"]) == 1 {
			lifetime = exp.Sub(date)
		} // an invalid Expires means already expired
	default:
		if !heuristic(status) || p.DefaultTTL <= 0 {
			return Decision{Reason: "no-freshness"}
		}
		lifetime = p.DefaultTTL
	}
	// Age on arrival: the larger of the Age the upstream reports and the
	// apparent age from its Date (RFC 9111 section 4.2.3).
	var age time.Duration
	if v := h["Age"]; len(v) > 0 {
		if n, ok := parseDelta(v[0]); ok {
			age = time.Duration(n) * time.Second
		}
	}
	if dateOK {
		if apparent := now.Sub(date); apparent > age {
			age = apparent
		}
	}
	if lifetime-age <= 0 {
		return Decision{Reason: "stale"}
	}
	return Decision{
		Store:      true,
		Shared:     cc.Public && p.SharePublic,
		Lifetime:   lifetime,
		InitialAge: age,
	}
}

func parseHTTPDate(v []string) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v[0])
	return t, err == nil
}
