package authn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// Introspector authenticates opaque (or any) Bearer tokens by asking the
// identity provider's OAuth 2.0 token introspection endpoint (RFC 7662).
//
// Only URL is ever called: nothing in a token chooses where the gateway sends
// it. Answers are cached by a hash of the token: an active token for at most
// CacheTTL and never past its exp, an inactive one for NegativeTTL. Concurrent
// requests with one token make one call. When the provider cannot be reached,
// tokens not in the cache get ErrIdPUnavailable (503), never a pass.
//
// Set the fields, then use it concurrently; do not change them afterwards.
type Introspector struct {
	// URL is the introspection endpoint.
	URL string
	// ClientID and ClientSecret authenticate the gateway to the provider.
	ClientID, ClientSecret string
	// AuthPost sends the client credentials in the form body
	// (client_secret_post) instead of HTTP Basic (client_secret_basic).
	AuthPost bool
	// Client makes the calls; its time-out bounds each one.
	Client *http.Client
	// Cache remembers answers; CacheTTL and NegativeTTL bound how long.
	Cache                 *TokenCache
	CacheTTL, NegativeTTL time.Duration
	// Issuer and Audiences, when set, must match the answer's iss and aud.
	Issuer    string
	Audiences []string
	// ConsumerClaim names the member holding the consumer; "sub" when empty.
	ConsumerClaim string
	// ScopesClaims name the members holding scopes; "scope" when empty.
	ScopesClaims []string
	// Claims are other members exposed in Identity.Claims.
	Claims []string
	// Observe, when set, is told whether each call got an answer.
	Observe func(ok bool)

	sf singleflight.Group
}

// ErrIdPUnavailable means the identity provider could not answer.
var ErrIdPUnavailable = &Rejection{Status: 503, Code: "temporarily_unavailable", Reason: "identity provider unavailable", Label: "idp_unavailable"}

// ErrInactive is a token the provider says is not active.
var ErrInactive = &Rejection{Status: 401, Code: "invalid_token", Reason: "token not active", Label: "inactive"}

// MaxIntrospectionBytes bounds an introspection answer.
const MaxIntrospectionBytes = 64 << 10

// Authenticate takes the Bearer token of the request and introspects it.
func (in *Introspector) Authenticate(r *http.Request, _ netip.Addr, now time.Time) (*Identity, error) {
	token, err := takeBearer(r, anyToken)
	if err != nil {
		return nil, err
	}
	return in.Verify(r.Context(), token, now)
}

// Carriers returns where the method reads tokens: Authorization.
func (in *Introspector) Carriers() Carriers { return bearerCarriers() }

// Verify returns the identity of token at now.
func (in *Introspector) Verify(ctx context.Context, token string, now time.Time) (*Identity, error) {
	if token == "" || len(token) > MaxTokenLen || !printableASCII(token) {
		return nil, ErrMalformed
	}
	key := TokenKey(token)
	if in.Cache != nil {
		if id, rej, ok := in.Cache.Get(key, now); ok {
			if rej != nil {
				return nil, rej
			}
			return id, nil
		}
	}
	v, _, _ := in.sf.Do(string(key[:]), func() (any, error) {
		id, until, rej := in.introspect(ctx, token, now)
		if in.Observe != nil {
			in.Observe(rej != ErrIdPUnavailable)
		}
		if in.Cache != nil && rej != ErrIdPUnavailable {
			in.Cache.Put(key, id, rej, until, now)
		}
		return result{id, rej}, nil
	})
	res := v.(result)
	if res.rej != nil {
		return nil, res.rej
	}
	return res.id, nil
}

type result struct {
	id  *Identity
	rej *Rejection
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// introspect calls the provider; it returns the identity or rejection and
// until when the answer may be cached.
func (in *Introspector) introspect(ctx context.Context, token string, now time.Time) (*Identity, time.Time, *Rejection) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.AuthPost {
		form.Set("client_id", in.ClientID)
		form.Set("client_secret", in.ClientSecret)
	}
	// The call serves every request waiting on it; the client's time-out bounds it.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, time.Time{}, ErrIdPUnavailable
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !in.AuthPost {
		// RFC 6749 section 2.3.1: the id and secret are form-encoded first.
		req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	}
	resp, err := in.Client.Do(req)
	if err != nil {
		return nil, time.Time{}, ErrIdPUnavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxIntrospectionBytes+1))
	if err != nil || resp.StatusCode != http.StatusOK || len(body) > MaxIntrospectionBytes {
		return nil, time.Time{}, ErrIdPUnavailable
	}
	ans, err := ParseIntrospection(body)
	if err != nil {
		return nil, time.Time{}, ErrIdPUnavailable
	}
	negative := now.Add(in.NegativeTTL)
	id, exp, rej := in.identity(ans, now)
	if rej != nil {
		return nil, negative, rej
	}
	until := now.Add(in.CacheTTL)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	return id, until, nil
}

// ParseIntrospection decodes an introspection answer. It fails on anything
// that is not a JSON object with a boolean "active".
func ParseIntrospection(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var ans map[string]any
	if err := dec.Decode(&ans); err != nil {
		return nil, fmt.Errorf("introspection answer: %w", err)
	}
	if _, ok := ans["active"].(bool); !ok {
		return nil, errors.New(`introspection answer: no boolean "active"`)
	}
	return ans, nil
}

func numericTime(v any) (time.Time, bool, error) {
	if v == nil {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, errors.New("not a number")
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false, errors.New("out of range")
	}
	return time.Unix(int64(f), 0), true, nil
}

func (in *Introspector) identity(ans map[string]any, now time.Time) (*Identity, time.Time, *Rejection) {
	if active, _ := ans["active"].(bool); !active {
		return nil, time.Time{}, ErrInactive
	}
	exp, hasExp, err := numericTime(ans["exp"])
	if err != nil {
		return nil, time.Time{}, ErrClaims
	}
	if hasExp && !now.Before(exp) {
		return nil, time.Time{}, ErrExpired
	}
	if nbf, ok, err := numericTime(ans["nbf"]); err != nil {
		return nil, time.Time{}, ErrClaims
	} else if ok && now.Before(nbf) {
		return nil, time.Time{}, ErrNotYetValid
	}
	if in.Issuer != "" {
		if iss, _ := ans["iss"].(string); iss != in.Issuer {
			return nil, time.Time{}, ErrClaims
		}
	}
	if len(in.Audiences) > 0 && !audienceMatches(ans["aud"], in.Audiences) {
		return nil, time.Time{}, ErrClaims
	}
	claim := in.ConsumerClaim
	if claim == "" {
		claim = "sub"
	}
	consumer, ok := LookupClaim(ans, claim).(string)
	if !ok || consumer == "" || len(consumer) > MaxClaimLen {
		return nil, time.Time{}, ErrClaims
	}
	id := &Identity{Consumer: consumer, Method: "introspect"}
	scopes := in.ScopesClaims
	if len(scopes) == 0 {
		scopes = []string{"scope"}
	}
	for _, name := range scopes {
		id.Scopes = appendScopes(id.Scopes, LookupClaim(ans, name))
	}
	id.ScopeString = strings.Join(id.Scopes, " ")
	if len(in.Claims) > 0 {
		id.Claims = make(map[string]string, len(in.Claims))
		for _, name := range in.Claims {
			if val, ok := ClaimString(LookupClaim(ans, name)); ok {
				id.Claims[name] = val
			}
		}
	}
	var until time.Time
	if hasExp {
		until = exp
	}
	return id, until, nil
}

func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		for _, w := range want {
			if a == w {
				return true
			}
		}
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && audienceMatches(s, want) {
				return true
			}
		}
	}
	return false
}
