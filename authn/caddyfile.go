package authn

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The Caddyfile grammar of api_auth (and its methods, lockout and
// upstream_token) and of api_key_rotate. The parsers check syntax and the
// form of each argument and name the line of a mistake; what the values mean
// together is each type's Validate, run when the config is loaded.

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_auth [<matcher>] {
//		api_key {
//			header <name>     # default X-API-Key
//			query  <name>     # off unless named
//		}
//		jwt { ... }           # see JWTMethod.unmarshalCaddyfile
//		introspect <url> { ... }
//		client_cert [{ ... }]
//		lockout <failures>/<window> <duration>
//		upstream_token { ... }
//		require_tls [{
//			revoke_exposed    # revoke a valid key seen in clear text
//		}]
//	}
//
// Without a block, api_auth accepts API keys with their defaults. Methods are
// tried in the order written.
func (a *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_auth", func(name string) error {
		var method interface {
			unmarshalCaddyfile(d *caddyfile.Dispenser) error
		}
		switch name {
		case "api_key":
			method = new(APIKeyMethod)
		case "jwt":
			method = new(JWTMethod)
		case "introspect":
			method = new(IntrospectMethod)
		case "client_cert":
			method = new(ClientCertMethod)
		case "upstream_token":
			a.UpstreamToken = new(UpstreamTokenConfig)
			return a.UpstreamToken.unmarshalCaddyfile(d)
		case "lockout":
			a.Lockout = new(LockoutConfig)
			return a.Lockout.unmarshalCaddyfile(d)
		case "require_tls":
			a.RequireTLS = new(RequireTLSConfig)
			return a.RequireTLS.unmarshalCaddyfile(d)
		default:
			return gateway.Unknown(d, "api_auth", name)
		}
		if err := method.unmarshalCaddyfile(d); err != nil {
			return err
		}
		a.MethodsRaw = append(a.MethodsRaw, caddyconfig.JSONModuleObject(method, "method", name, nil))
		return nil
	})
}

// unmarshalCaddyfile parses the api_key method of api_auth (see
// Auth.UnmarshalCaddyfile).
func (m *APIKeyMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_key", func(name string) error {
		switch name {
		case "header":
			return oneArgInto(d, &m.Header)
		case "query":
			return oneArgInto(d, &m.Query)
		}
		return gateway.Unknown(d, "api_key", name)
	})
}

// unmarshalCaddyfile parses the jwt method of api_auth. Syntax:
//
//	jwt {
//		jwks_url <url>            # or: discovery / key <pem file> / secret <value>
//		issuer   <iss>
//		audience <aud>...
//		algorithms <alg>...       # default ES256 RS256 EdDSA (HS256 with a secret)
//		leeway   <duration>
//		typ      <typ>
//		consumer_claim <claim>    # default sub
//		scopes_claim   <claim>... # default scope
//		claims   <claim>...       # exposed as {http.auth.user.<claim>}
//		cache_size <n>
//		unknown_kid_interval <duration>
//		timeout  <duration>
//		bound_tokens [required] [{
//			proof_algorithms <alg>...   # default ES256 ES384 PS256 RS256 EdDSA
//			proof_window <duration>     # default 60s
//		}]
//	}
func (m *JWTMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	shared := tokenFields{&m.Issuer, &m.ConsumerClaim, &m.Audience, &m.ScopesClaim, &m.Claims, &m.CacheSize, &m.Timeout}
	return gateway.Block(d, "jwt", func(name string) error {
		switch name {
		case "discovery":
			m.Discovery = true
			if d.NextArg() {
				return d.ArgErr()
			}
			return nil
		case "jwks_url":
			return oneArgInto(d, &m.JWKSURL)
		case "key":
			return oneArgInto(d, &m.Key)
		case "secret":
			return oneArgInto(d, &m.Secret)
		case "typ":
			return oneArgInto(d, &m.Typ)
		case "algorithms":
			return argsInto(d, &m.Algorithms)
		case "leeway":
			return durationInto(d, &m.Leeway)
		case "unknown_kid_interval":
			return durationInto(d, &m.UnknownKidInterval)
		case "bound_tokens":
			m.BoundTokens = new(BoundTokensConfig)
			return m.BoundTokens.unmarshalCaddyfile(d)
		}
		if ok, err := shared.parse(d, name); ok {
			return err
		}
		return gateway.Unknown(d, "jwt", name)
	})
}

// unmarshalCaddyfile parses the introspect method of api_auth. Syntax:
//
//	introspect <url> {
//		client_id      <id>
//		client_secret  <secret>
//		auth_method    client_secret_basic|client_secret_post
//		cache          <duration>   # default 30s, never past the token's exp
//		negative_cache <duration>   # default 5s
//		cache_size     <n>
//		timeout        <duration>   # default 5s
//		issuer         <iss>
//		audience       <aud>...
//		consumer_claim <member>     # default sub
//		scopes_claim   <member>...  # default scope
//		claims         <member>...
//	}
func (m *IntrospectMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if err := oneArgInto(d, &m.URL); err != nil {
		return err
	}
	shared := tokenFields{&m.Issuer, &m.ConsumerClaim, &m.Audience, &m.ScopesClaim, &m.Claims, &m.CacheSize, &m.Timeout}
	return gateway.Block(d, "introspect", func(name string) error {
		switch name {
		case "client_id":
			return oneArgInto(d, &m.ClientID)
		case "client_secret":
			return oneArgInto(d, &m.ClientSecret)
		case "auth_method":
			return oneArgInto(d, &m.AuthMethod)
		case "cache":
			return durationInto(d, &m.Cache)
		case "negative_cache":
			return durationInto(d, &m.NegativeCache)
		}
		if ok, err := shared.parse(d, name); ok {
			return err
		}
		return gateway.Unknown(d, "introspect", name)
	})
}

// tokenFields are the subdirectives jwt and introspect share: the claims of
// a token and the cache and time-out of the calls to its provider.
type tokenFields struct {
	issuer, consumerClaim         *string
	audience, scopesClaim, claims *[]string
	cacheSize                     *int
	timeout                       *caddy.Duration
}

// parse reads the subdirective name if it is one of the shared ones.
func (f tokenFields) parse(d *caddyfile.Dispenser, name string) (bool, error) {
	switch name {
	case "issuer":
		return true, oneArgInto(d, f.issuer)
	case "consumer_claim":
		return true, oneArgInto(d, f.consumerClaim)
	case "audience":
		return true, argsInto(d, f.audience)
	case "scopes_claim":
		return true, argsInto(d, f.scopesClaim)
	case "claims":
		return true, argsInto(d, f.claims)
	case "timeout":
		return true, durationInto(d, f.timeout)
	case "cache_size":
		n, err := gateway.ParseCount(d)
		*f.cacheSize = n
		return true, err
	}
	return false, nil
}

// unmarshalCaddyfile parses the client_cert method of api_auth. Syntax:
//
//	client_cert [{
//		consumer subject.common_name|subject|san.dns|san.email|san.uri
//		scopes   <scope>...
//	}]
func (m *ClientCertMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "client_cert", func(name string) error {
		switch name {
		case "consumer":
			return oneArgInto(d, &m.Consumer)
		case "scopes":
			scopes, err := gateway.ParseScopes(d)
			m.Scopes = scopes
			return err
		}
		return gateway.Unknown(d, "client_cert", name)
	})
}

// unmarshalCaddyfile parses the upstream_token block of api_auth:
//
//	upstream_token {
//		header   <name>       # default X-Apigate-Token
//		ttl      <duration>   # default 60s, at most 1h
//		audience <aud>        # required
//		issuer   <iss>        # default caddy-apigate
//	}
func (u *UpstreamTokenConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "upstream_token", func(name string) error {
		switch name {
		case "header":
			return oneArgInto(d, &u.Header)
		case "audience":
			return oneArgInto(d, &u.Audience)
		case "issuer":
			return oneArgInto(d, &u.Issuer)
		case "ttl":
			return durationInto(d, &u.TTL)
		}
		return gateway.Unknown(d, "upstream_token", name)
	})
}

// unmarshalCaddyfile parses the arguments of `lockout <failures>/<window>
// <duration>` in api_auth, e.g. `lockout 10/1m 15m`.
func (lc *LockoutConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	n, window, err := gateway.ParseRate(d)
	if err != nil {
		return err
	}
	lc.Failures, lc.Window = n, caddy.Duration(window)
	if err := durationInto(d, &lc.Duration); err != nil {
		return err
	}
	if d.NextBlock(d.Nesting()) {
		return d.Err("lockout takes no block")
	}
	return nil
}

// unmarshalCaddyfile parses require_tls in api_auth:
//
//	require_tls [{
//		revoke_exposed
//	}]
func (c *RequireTLSConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "require_tls", func(name string) error {
		if name != "revoke_exposed" {
			return gateway.Unknown(d, "require_tls", name)
		}
		c.RevokeExposed = true
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	})
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_key_rotate [<matcher>] {
//		min_age <duration>   # default 1m
//	}
func (h *KeyRotate) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_key_rotate", func(name string) error {
		if name != "min_age" {
			return gateway.Unknown(d, "api_key_rotate", name)
		}
		h.MinAge = new(caddy.Duration)
		return durationInto(d, h.MinAge)
	})
}

// UnmarshalCaddyfile checks that api_jwks has neither arguments nor a block:
//
//	api_jwks [<matcher>]
func (h *JWKSHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Err("api_jwks takes no block")
	}
	return nil
}

// oneArgInto reads exactly one argument into s.
func oneArgInto(d *caddyfile.Dispenser, s *string) error {
	v, err := gateway.OneArg(d)
	*s = v
	return err
}

// argsInto reads the remaining arguments, at least one, into s.
func argsInto(d *caddyfile.Dispenser, s *[]string) error {
	*s = d.RemainingArgs()
	if len(*s) == 0 {
		return d.ArgErr()
	}
	return nil
}

// durationInto reads exactly one duration argument into dur.
func durationInto(d *caddyfile.Dispenser, dur *caddy.Duration) error {
	v, err := gateway.ParseDuration(d)
	*dur = v
	return err
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Auth)(nil)
	_ caddyfile.Unmarshaler = (*KeyRotate)(nil)
	_ caddyfile.Unmarshaler = (*JWKSHandler)(nil)
)
