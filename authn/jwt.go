package authn

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeySource finds the keys that may verify a token with this kid and alg.
type KeySource interface {
	Lookup(ctx context.Context, kid, alg string, now time.Time) []*VerifyKey
}

// StaticKeys is a fixed key set (a PEM file or an HMAC secret).
type StaticKeys struct{ Set *KeySet }

// Lookup returns the keys of the set that fit kid and alg.
func (s StaticKeys) Lookup(_ context.Context, kid, alg string, _ time.Time) []*VerifyKey {
	if kid != "" && !s.Set.Has(kid) {
		// A PEM key or a secret has no id: a kid the set does not know still
		// gets the unnamed keys, as IdPs name their keys freely.
		return s.Set.Lookup("", alg)
	}
	return s.Set.Lookup(kid, alg)
}

// MaxKidlessKeys is the most keys tried for a token that names no kid; with
// more candidate keys such a token is refused, so it cannot cost many
// signature checks.
const MaxKidlessKeys = 3

// MaxTokenLen bounds the tokens the gateway looks at.
const MaxTokenLen = 16 << 10

// JWT verifies JSON Web Tokens (RFC 7519) signed with JWS compact
// serialization and maps their claims to an identity.
//
// The algorithm is never chosen by the token: it must be in Algorithms and
// allowed by the key (a key's type, curve or JWKS "alg" fixes the algorithms it
// verifies). Headers the gateway does not understand listed in "crit" are
// rejected; "jku", "x5u", "jwk" and "x5c" are ignored (keys come only from the
// configuration). exp is required; nbf and iat are checked with Leeway.
//
// Set the fields, call Init, then use Verify or Authenticate concurrently.
type JWT struct {
	// Keys finds verification keys.
	Keys KeySource
	// Algorithms is the allow-list of JWS algorithms.
	Algorithms []string
	// Issuer is the required "iss".
	Issuer string
	// Audiences: "aud" must hold at least one of them.
	Audiences []string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Typ, when set, is the required "typ" header (compared case-insensitively,
	// with or without an "application/" prefix, RFC 8725 section 3.11).
	Typ string
	// ConsumerClaim names the claim holding the consumer; "sub" when empty.
	ConsumerClaim string
	// ScopesClaims name the claims holding scopes (a space-separated string or
	// an array of strings); their scopes are merged.
	ScopesClaims []string
	// Claims are other claims exposed in Identity.Claims.
	Claims []string
	// Cache, when set, remembers verified tokens until their exp (at most
	// CacheTTL after verification, when CacheTTL is positive).
	Cache    *TokenCache
	CacheTTL time.Duration
	// Method is the name put in Identity.Method; "jwt" when empty.
	Method string
	// Bound, when set, checks the token's binding (cnf) and takes DPoP
	// tokens.
	Bound *BoundTokens

	parser *jwt.Parser
	opts   []jwt.ParserOption
}

// Init prepares the parser. Which algorithms to allow is the caller's
// choice (the jwt method's Validate checks them); a name the JWS library does
// not know never matches a token, and "none" never verifies, as no key is the
// library's marker for unsigned tokens.
func (v *JWT) Init() error {
	if v.Keys == nil {
		return errors.New("jwt: no key source")
	}
	if len(v.Algorithms) == 0 {
		return errors.New("jwt: no algorithm allowed")
	}
	if v.ConsumerClaim == "" {
		v.ConsumerClaim = "sub"
	}
	if v.Method == "" {
		v.Method = "jwt"
	}
	v.opts = []jwt.ParserOption{
		jwt.WithValidMethods(v.Algorithms),
		jwt.WithJSONNumber(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if v.Issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(v.Issuer))
	}
	if len(v.Audiences) > 0 {
		v.opts = append(v.opts, jwt.WithAudience(v.Audiences...))
	}
	return nil
}

// Rejections of tokens.
var (
	ErrInvalidToken = &Rejection{Status: 401, Code: "invalid_token", Reason: "invalid token", Label: "invalid"}
	ErrUnknownKey   = &Rejection{Status: 401, Code: "invalid_token", Reason: "no key for the token", Label: "unknown_key"}
	ErrNotYetValid  = &Rejection{Status: 401, Code: "invalid_token", Reason: "token not yet valid", Label: "not_yet_valid"}
	ErrClaims       = &Rejection{Status: 401, Code: "invalid_token", Reason: "token claims not acceptable", Label: "claims"}
)

// LooksLikeJWS reports whether token has the shape of a JWS compact
// serialization: three base64url segments separated by dots. Opaque tokens
// do not, so they are left to a later method (introspection).
func LooksLikeJWS(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=') {
			return false
		}
	}
	return true
}

// Authenticate takes a JWT from `Authorization: Bearer <token>` and verifies
// it. A Bearer token that is not shaped like a JWT is left to the next method.
func (v *JWT) Authenticate(r *http.Request, _ netip.Addr, now time.Time) (*Identity, error) {
	if v.Bound != nil {
		return v.Bound.authenticate(v, r, now)
	}
	token, err := takeBearer(r, LooksLikeJWS)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), token, now)
}

// Carriers returns where the method reads tokens: Authorization.
func (v *JWT) Carriers() Carriers { return bearerCarriers() }

func bearerCarriers() Carriers {
	var c Carriers
	c.AddHeader("Authorization")
	return c
}

// Verify checks token at now and returns the identity it carries.
func (v *JWT) Verify(ctx context.Context, token string, now time.Time) (*Identity, error) {
	id, _, err := v.VerifyBound(ctx, token, now)
	return id, err
}

// VerifyBound is Verify that also returns what the token is bound to (its
// cnf claim); checking the binding is the caller's.
func (v *JWT) VerifyBound(ctx context.Context, token string, now time.Time) (*Identity, Binding, error) {
	if token == "" || len(token) > MaxTokenLen {
		return nil, Binding{}, ErrMalformed
	}
	var key [32]byte
	if v.Cache != nil {
		key = TokenKey(token)
		if id, rej, bind, ok := v.Cache.GetBound(key, now); ok {
			if rej != nil {
				return nil, Binding{}, rej
			}
			return id, bind, nil
		}
	}
	id, exp, bind, rej := v.verify(ctx, token, now)
	if rej != nil {
		return nil, Binding{}, rej
	}
	if v.Cache != nil {
		until := exp
		if v.CacheTTL > 0 && now.Add(v.CacheTTL).Before(until) {
			until = now.Add(v.CacheTTL)
		}
		v.Cache.PutBound(key, id, nil, bind, until, now)
	}
	return id, bind, nil
}

type keyError struct{ rej *Rejection }

func (e keyError) Error() string { return e.rej.Reason }

func (v *JWT) verify(ctx context.Context, token string, now time.Time) (*Identity, time.Time, Binding, *Rejection) {
	opts := append(v.opts[:len(v.opts):len(v.opts)], jwt.WithTimeFunc(func() time.Time { return now }))
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if rej := v.checkHeader(t.Header); rej != nil {
			return nil, keyError{rej}
		}
		kid, _ := t.Header["kid"].(string)
		alg := t.Method.Alg()
		keys := v.Keys.Lookup(ctx, kid, alg, now)
		if len(keys) > MaxKidlessKeys {
			// A token naming no key would cost one signature check per key.
			return nil, keyError{ErrUnknownKey}
		}
		switch len(keys) {
		case 0:
			return nil, keyError{ErrUnknownKey}
		case 1:
			return keys[0].Key, nil
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.Key)
		}
		return set, nil
	})
	if err != nil {
		var ke keyError
		switch {
		case errors.As(err, &ke):
			return nil, time.Time{}, Binding{}, ke.rej
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, time.Time{}, Binding{}, ErrExpired
		case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return nil, time.Time{}, Binding{}, ErrNotYetValid
		case errors.Is(err, jwt.ErrTokenMalformed):
			return nil, time.Time{}, Binding{}, ErrMalformed
		case errors.Is(err, jwt.ErrTokenInvalidClaims):
			return nil, time.Time{}, Binding{}, ErrClaims
		}
		return nil, time.Time{}, Binding{}, ErrInvalidToken
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, time.Time{}, Binding{}, ErrClaims
	}
	id, rej := v.identity(claims)
	if rej != nil {
		return nil, time.Time{}, Binding{}, rej
	}
	return id, exp.Time, bindingOf(claims), nil
}

// checkHeader rejects the headers the gateway does not accept.
func (v *JWT) checkHeader(h map[string]any) *Rejection {
	if _, ok := h["crit"]; ok {
		// No extension is understood (RFC 7515 section 4.1.11), so any crit
		// header, even an empty list, is refused.
		return ErrInvalidToken
	}
	if kid, ok := h["kid"]; ok {
		s, isString := kid.(string)
		if !isString || s == "" || len(s) > MaxKidLen {
			return ErrMalformed
		}
	}
	if v.Typ != "" {
		typ, _ := h["typ"].(string)
		if !sameTyp(typ, v.Typ) {
			return ErrInvalidToken
		}
	}
	return nil
}

func sameTyp(got, want string) bool {
	trim := func(s string) string {
		if len(s) > 12 && strings.EqualFold(s[:12], "application/") {
			return s[12:]
		}
		return s
	}
	return strings.EqualFold(trim(got), trim(want))
}

// MaxClaimLen bounds the consumer and the values of exposed claims.
const MaxClaimLen = 1024

// LookupClaim returns the claim name of claims. A name with dots that is not a
// top-level claim is a path into nested objects: realm_access.roles is the
// "roles" member of the "realm_access" object (Keycloak's realm roles). A
// top-level claim named with dots (https://example.com/roles) wins.
func LookupClaim(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok || !strings.Contains(name, ".") {
		return v
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func (v *JWT) identity(claims map[string]any) (*Identity, *Rejection) {
	consumer, ok := LookupClaim(claims, v.ConsumerClaim).(string)
	if !ok || consumer == "" || len(consumer) > MaxClaimLen {
		return nil, ErrClaims
	}
	id := &Identity{Consumer: consumer, Method: v.Method}
	for _, name := range v.ScopesClaims {
		id.Scopes = appendScopes(id.Scopes, LookupClaim(claims, name))
	}
	id.ScopeString = strings.Join(id.Scopes, " ")
	if len(v.Claims) > 0 {
		id.Claims = make(map[string]string, len(v.Claims))
		for _, name := range v.Claims {
			if val, ok := ClaimString(LookupClaim(claims, name)); ok {
				id.Claims[name] = val
			}
		}
	}
	return id, nil
}
