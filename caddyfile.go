package apigate

import (
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/inspect"
	"github.com/apigate/caddy-apigate/limiter"
	"github.com/apigate/caddy-apigate/openapi"
)

// parseGlobalOption parses the api_gateway global option. Syntax:
//
//	api_gateway {
//		redis redis://host:6379/0
//		keys {
//			prefix      <prefix>
//			grace       <duration>
//			max_age     <duration>
//			warn_before <duration>
//			refresh     <duration>
//		}
//		notify <url> {
//			secret  <whsec_...>
//			timeout <duration>
//		}
//		signing {
//			algorithm    EdDSA|ES256
//			rotate_every <duration>
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("api_gateway may be given only once")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "api_gateway", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the api_gateway global option; see
// parseGlobalOption for the syntax.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "keys":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Keys = new(KeysConfig)
			if err := a.Keys.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "redis":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Redis = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "notify":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Notify = &NotifyConfig{URL: d.Val()}
			if d.NextArg() {
				return d.ArgErr()
			}
			if err := a.Notify.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "signing":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Signing = new(SigningConfig)
			if err := a.Signing.unmarshalCaddyfile(d); err != nil {
				return err
			}
		default:
			return d.Errf("api_gateway: unrecognized subdirective %q", name)
		}
	}
	return nil
}

func (k *KeysConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("keys: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "prefix":
			if !d.NextArg() {
				return d.ArgErr()
			}
			k.Prefix = d.Val()
		case "grace", "max_age", "warn_before", "refresh":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			switch name {
			case "grace":
				k.Grace = dur
			case "max_age":
				k.MaxAge = dur
			case "refresh":
				k.Refresh = dur
			default:
				k.WarnBefore = dur
			}
		default:
			return d.Errf("keys: unrecognized subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// parseDurationArg reads one duration argument (Go syntax, plus `d` for days).
func parseDurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil {
		return 0, d.Errf("%s: invalid duration %q: %v", d.Val(), d.Val(), err)
	}
	if dur < 0 {
		return 0, d.Errf("%s: duration must not be negative", d.Val())
	}
	return caddy.Duration(dur), nil
}

func (c *NotifyConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("notify: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			c.Secret = d.Val()
		case "timeout":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			c.Timeout = dur
		default:
			return d.Errf("notify: unrecognized subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if c.Secret == "" {
		return d.Err("notify: a secret is required (secret whsec_...)")
	}
	return nil
}

func parseKeyRotate(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	k := new(KeyRotate)
	err := k.UnmarshalCaddyfile(h.Dispenser)
	return k, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_key_rotate [<matcher>] {
//		min_age <duration>   # default 1m
//	}
func (k *KeyRotate) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_key_rotate: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "min_age":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			k.MinAge = &dur
		default:
			return d.Errf("api_key_rotate: unrecognized subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

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
//		upstream_token { ... }
//	}
//
// Without a block, api_auth accepts API keys with their defaults. Methods are
// tried in the order written.
func (a *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_auth: duplicate method %q", name)
		}
		seen[name] = true
		var method any
		switch name {
		case "api_key":
			m := new(APIKeyMethod)
			if err := m.unmarshalCaddyfile(d); err != nil {
				return err
			}
			method = m
		case "jwt":
			m := new(JWTMethod)
			if err := m.unmarshalCaddyfile(d); err != nil {
				return err
			}
			method = m
		case "introspect":
			m := new(IntrospectMethod)
			if err := m.unmarshalCaddyfile(d); err != nil {
				return err
			}
			method = m
		case "client_cert":
			m := new(ClientCertMethod)
			if err := m.unmarshalCaddyfile(d); err != nil {
				return err
			}
			method = m
		case "upstream_token":
			if a.UpstreamToken != nil {
				return d.Errf("api_auth: duplicate %q", name)
			}
			a.UpstreamToken = new(UpstreamTokenConfig)
			if err := a.UpstreamToken.unmarshalCaddyfile(d); err != nil {
				return err
			}
			continue
		case "lockout":
			if a.Lockout != nil {
				return d.Errf("api_auth: duplicate subdirective %q", name)
			}
			lc, err := parseLockout(d)
			if err != nil {
				return err
			}
			a.Lockout = lc
			continue
		default:
			return d.Errf("api_auth: unrecognized method %q", name)
		}
		a.MethodsRaw = append(a.MethodsRaw, caddyconfig.JSONModuleObject(method, "method", name, nil))
	}
	return nil
}

func (m *APIKeyMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_key: duplicate subdirective %q", name)
		}
		seen[name] = true
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		if !validToken(val) {
			return d.Errf("api_key: %s %q is not a valid name", name, val)
		}
		switch name {
		case "header":
			m.Header = val
		case "query":
			m.Query = val
		default:
			return d.Errf("api_key: unrecognized subdirective %q", name)
		}
	}
	return nil
}

func parseAuthorize(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	az := new(authz.Authorize)
	return az, az.UnmarshalCaddyfile(h.Dispenser)
}

func parseOpenAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	o := new(openapi.OpenAPI)
	return o, o.UnmarshalCaddyfile(h.Dispenser)
}

var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Auth)(nil)
	_ caddyfile.Unmarshaler = (*KeyRotate)(nil)
)

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
//	}
func (m *JWTMethod) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("jwt: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "discovery":
			if d.NextArg() {
				return d.ArgErr()
			}
			m.Discovery = true
		case "jwks_url", "key", "secret", "issuer", "typ", "consumer_claim":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			switch name {
			case "jwks_url":
				m.JWKSURL = val
			case "key":
				m.Key = val
			case "secret":
				m.Secret = val
			case "issuer":
				m.Issuer = val
			case "typ":
				m.Typ = val
			default:
				m.ConsumerClaim = val
			}
		case "audience", "algorithms", "scopes_claim", "claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			switch name {
			case "audience":
				m.Audience = args
			case "algorithms":
				for _, a := range args {
					if !supportedAlg(a) {
						return d.Errf("jwt: algorithm %q is not supported", a)
					}
				}
				m.Algorithms = args
			case "scopes_claim":
				m.ScopesClaim = args
			default:
				for _, c := range args {
					if reservedPlaceholder(c) {
						return d.Errf("jwt: claim %q cannot be exposed: {http.auth.user.%s} is set by api_auth", c, c)
					}
				}
				m.Claims = args
			}
		case "leeway", "unknown_kid_interval", "timeout":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "leeway":
				m.Leeway = dur
			case "unknown_kid_interval":
				m.UnknownKidInterval = dur
			default:
				m.Timeout = dur
			}
		case "cache_size":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return d.Errf("jwt: cache_size %q is not a non-negative integer", val)
			}
			m.CacheSize = n
		default:
			return d.Errf("jwt: unrecognized subdirective %q", name)
		}
	}
	if err := m.validate(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// oneArg reads exactly one argument.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	val := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return val, nil
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
	if !d.NextArg() {
		return d.ArgErr()
	}
	m.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("introspect: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "client_id", "client_secret", "auth_method", "issuer", "consumer_claim":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			switch name {
			case "client_id":
				m.ClientID = val
			case "client_secret":
				m.ClientSecret = val
			case "auth_method":
				m.AuthMethod = val
			case "issuer":
				m.Issuer = val
			default:
				m.ConsumerClaim = val
			}
		case "audience", "scopes_claim", "claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			switch name {
			case "audience":
				m.Audience = args
			case "scopes_claim":
				m.ScopesClaim = args
			default:
				m.Claims = args
			}
		case "cache", "negative_cache", "timeout":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "cache":
				m.Cache = dur
			case "negative_cache":
				m.NegativeCache = dur
			default:
				m.Timeout = dur
			}
		case "cache_size":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return d.Errf("introspect: cache_size %q is not a non-negative integer", val)
			}
			m.CacheSize = n
		default:
			return d.Errf("introspect: unrecognized subdirective %q", name)
		}
	}
	if err := m.validate(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
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
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("client_cert: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "consumer":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			m.Consumer = val
			if err := m.Validate(); err != nil {
				return d.Errf("%v", err)
			}
		case "scopes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, s := range args {
				if !validScopeToken(s) {
					return d.Errf("client_cert: scope %q is not valid", s)
				}
			}
			m.Scopes = args
		default:
			return d.Errf("client_cert: unrecognized subdirective %q", name)
		}
	}
	return nil
}

// unmarshalCaddyfile parses the signing block of the api_gateway option:
//
//	signing {
//		algorithm    EdDSA|ES256
//		rotate_every <duration>
//	}
func (c *SigningConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("signing: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "algorithm":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := authn.CheckSigningAlg(val); err != nil {
				return d.Errf("signing: %v", err)
			}
			c.Algorithm = val
		case "rotate_every":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if time.Duration(dur) < time.Second {
				return d.Errf("signing: rotate_every must be at least 1s")
			}
			c.RotateEvery = dur
		default:
			return d.Errf("signing: unrecognized subdirective %q", name)
		}
	}
	return nil
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
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("upstream_token: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "header", "audience", "issuer":
			val, err := oneArg(d)
			if err != nil {
				return err
			}
			switch name {
			case "header":
				u.Header = val
			case "audience":
				u.Audience = val
			default:
				u.Issuer = val
			}
		case "ttl":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if dur == 0 {
				return d.Errf("upstream_token: ttl must be positive")
			}
			u.TTL = dur
		default:
			return d.Errf("upstream_token: unrecognized subdirective %q", name)
		}
	}
	if err := u.validate(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

func parseJWKS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	if h.NextBlock(0) {
		return nil, h.Err("api_jwks takes no block")
	}
	return new(JWKSHandler), nil
}

func parseCache(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(cache.Cache)
	return c, c.UnmarshalCaddyfile(h.Dispenser)
}

// parseLockout parses the arguments of `lockout <failures>/<window> <duration>`
// in api_auth, e.g. `lockout 10/1m 15m`.
func parseLockout(d *caddyfile.Dispenser) (*LockoutConfig, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.Errf("lockout: want <failures>/<window> <duration>, like lockout 10/1m 15m")
	}
	n, window, err := limiter.ParseRate(args[0])
	if err != nil {
		return nil, d.Errf("lockout: %v", err)
	}
	if _, err := limiter.LockoutLimit(n, window); err != nil {
		return nil, d.Errf("lockout: %v", err)
	}
	dur, err := caddy.ParseDuration(args[1])
	if err != nil || dur <= 0 || dur > limiter.MaxWindow {
		return nil, d.Errf("lockout: duration %q must be a positive duration of at most %s", args[1], limiter.MaxWindow)
	}
	if d.NextBlock(d.Nesting()) {
		return nil, d.Err("lockout takes no block")
	}
	return &LockoutConfig{Failures: n, Window: caddy.Duration(window), Duration: caddy.Duration(dur)}, nil
}

func parseRateLimit(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	rl := new(RateLimit)
	err := rl.UnmarshalCaddyfile(h.Dispenser)
	return rl, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_rate_limit [<matcher>] <requests>/<window> [<burst>]
//	api_rate_limit [<matcher>] [<requests>/<window> [<burst>]] {
//		zone <name> {
//			key   <placeholders...>   # default: the consumer, else the client IP
//			rate  <requests>/<window>
//			burst <requests>          # default: the rate's requests
//			tier  <name> <requests>/<window> [<burst>]   # callers with scope tier:<name>
//		}
//		backend          memory|redis
//		on_backend_error local|allow|deny
//		max_keys         <keys>
//	}
//
// The inline rate is a zone named default, keyed by consumer, else client IP.
func (rl *RateLimit) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		z := &RateZone{Name: "default"}
		if err := z.setRate(d, d.Val()); err != nil {
			return err
		}
		if d.NextArg() {
			if err := z.setBurst(d, d.Val()); err != nil {
				return err
			}
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		rl.Zones = append(rl.Zones, z)
	}
	seen := map[string]bool{}
	zones := map[string]bool{}
	if len(rl.Zones) == 1 {
		zones["default"] = true
	}
	for d.NextBlock(0) {
		name := d.Val()
		if name != "zone" && seen[name] {
			return d.Errf("api_rate_limit: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "zone":
			z := new(RateZone)
			if !d.NextArg() {
				return d.Errf("api_rate_limit: zone needs a name")
			}
			z.Name = d.Val()
			if !validZoneName(z.Name) {
				return d.Errf("api_rate_limit: zone name %q must be letters, digits, '_', '-' or '.'", z.Name)
			}
			if zones[z.Name] {
				return d.Errf("api_rate_limit: duplicate zone %q", z.Name)
			}
			zones[z.Name] = true
			if d.NextArg() {
				return d.ArgErr()
			}
			if err := z.unmarshalCaddyfile(d); err != nil {
				return err
			}
			rl.Zones = append(rl.Zones, z)
		case "backend", "on_backend_error", "max_keys":
			if !d.NextArg() {
				return d.ArgErr()
			}
			val := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "backend":
				if val != backendMemory && val != backendRedis {
					return d.Errf("api_rate_limit: backend must be memory or redis, not %q", val)
				}
				rl.Backend = val
			case "on_backend_error":
				if val != onErrorLocal && val != onErrorAllow && val != onErrorDeny {
					return d.Errf("api_rate_limit: on_backend_error must be local, allow or deny, not %q", val)
				}
				rl.OnBackendError = val
			default:
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					return d.Errf("api_rate_limit: max_keys must be a positive number, not %q", val)
				}
				rl.MaxKeys = n
			}
		default:
			return d.Errf("api_rate_limit: unrecognized subdirective %q", name)
		}
	}
	if len(rl.Zones) == 0 {
		return d.Err("api_rate_limit: want a rate (api_rate_limit 100/1m) or at least one zone")
	}
	return nil
}

func (z *RateZone) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := map[string]bool{}
	tiers := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if name != "tier" && seen[name] {
			return d.Errf("zone %s: duplicate subdirective %q", z.Name, name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		switch name {
		case "key":
			if len(args) == 0 {
				return d.ArgErr()
			}
			z.Key = strings.Join(args, " ")
		case "rate":
			if len(args) != 1 {
				return d.ArgErr()
			}
			if err := z.setRate(d, args[0]); err != nil {
				return err
			}
		case "burst":
			if len(args) != 1 {
				return d.ArgErr()
			}
			if err := z.setBurst(d, args[0]); err != nil {
				return err
			}
		case "tier":
			if len(args) != 2 && len(args) != 3 {
				return d.Errf("zone %s: want tier <name> <requests>/<window> [<burst>]", z.Name)
			}
			t := &RateTier{Name: args[0]}
			if !validScopeToken("tier:"+t.Name) || strings.ContainsAny(t.Name, " \t") {
				return d.Errf("zone %s: tier name %q does not make a valid scope", z.Name, t.Name)
			}
			if tiers[t.Name] {
				return d.Errf("zone %s: duplicate tier %q", z.Name, t.Name)
			}
			tiers[t.Name] = true
			n, w, err := limiter.ParseRate(args[1])
			if err != nil {
				return d.Errf("zone %s: tier %s: %v", z.Name, t.Name, err)
			}
			t.Requests, t.Window = n, caddy.Duration(w)
			if len(args) == 3 {
				b, err := strconv.Atoi(args[2])
				if err != nil || b < 1 || b > limiter.MaxRequests {
					return d.Errf("zone %s: tier %s: burst %q must be a number between 1 and %d", z.Name, t.Name, args[2], limiter.MaxRequests)
				}
				t.Burst = b
			}
			z.Tiers = append(z.Tiers, t)
		default:
			return d.Errf("zone %s: unrecognized subdirective %q", z.Name, name)
		}
	}
	if z.Requests == 0 {
		return d.Errf("zone %s: rate is required (rate 100/1m)", z.Name)
	}
	return nil
}

func (z *RateZone) setRate(d *caddyfile.Dispenser, s string) error {
	n, w, err := limiter.ParseRate(s)
	if err != nil {
		return d.Errf("api_rate_limit: %v", err)
	}
	z.Requests, z.Window = n, caddy.Duration(w)
	return nil
}

func (z *RateZone) setBurst(d *caddyfile.Dispenser, s string) error {
	b, err := strconv.Atoi(s)
	if err != nil || b < 1 || b > limiter.MaxRequests {
		return d.Errf("api_rate_limit: burst %q must be a number between 1 and %d", s, limiter.MaxRequests)
	}
	z.Burst = b
	return nil
}

var _ caddyfile.Unmarshaler = (*RateLimit)(nil)

func parseInspect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	in := new(Inspect)
	err := in.UnmarshalCaddyfile(h.Dispenser)
	return in, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_inspect [<matcher>] {
//		max_body      <size>          # 413 above it, e.g. 1MB
//		min_upload_rate <size>/s [<grace>]|off  # 408 below it (default with max_body: 10KB/s 10s)
//		json_depth    <n>             # 400 for deeper or malformed JSON
//		content_types <type>...       # 415 for request bodies of other types
//		block         sqli|xss...     # 403 for injection in query, path, form, JSON; 415 for other bodies
//		paths         strict|off      # default strict; also 400 for method overrides
//		mask          [card] [email] [regex <name> <pattern>]... {
//			card
//			email
//			regex <name> <pattern>
//		}
//		audit [{
//			bodies <size>             # log this much of each body, masked
//		}]
//	}
func (in *Inspect) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_inspect: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "max_body":
			size, err := parseSizeArg(d)
			if err != nil {
				return err
			}
			in.MaxBody = size
		case "min_upload_rate":
			if err := in.unmarshalUploadRate(d); err != nil {
				return err
			}
		case "json_depth":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("api_inspect: json_depth %q must be a positive integer", d.Val())
			}
			in.JSONDepth = n
			if d.NextArg() {
				return d.ArgErr()
			}
		case "content_types":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := path.Match(a, "x/y"); err != nil || !strings.Contains(a, "/") {
					return d.Errf("api_inspect: content_types: %q is not a media type or pattern", a)
				}
			}
			in.ContentTypes = args
		case "block":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if a != "sqli" && a != "xss" {
					return d.Errf("api_inspect: block: unknown attack %q (want sqli, xss)", a)
				}
			}
			in.Block = args
		case "paths":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if v := d.Val(); v != "strict" && v != "off" {
				return d.Errf("api_inspect: paths must be strict or off, not %q", v)
			}
			in.Paths = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "mask":
			in.Mask = new(MaskConfig)
			if err := in.Mask.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "audit":
			in.Audit = new(AuditConfig)
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "bodies":
					if in.Audit.Bodies != 0 {
						return d.Err("api_inspect: audit: duplicate subdirective \"bodies\"")
					}
					size, err := parseSizeArg(d)
					if err != nil {
						return err
					}
					in.Audit.Bodies = size
				default:
					return d.Errf("api_inspect: audit: unrecognized subdirective %q", d.Val())
				}
			}
		default:
			return d.Errf("api_inspect: unrecognized subdirective %q", name)
		}
	}
	return nil
}

// unmarshalUploadRate reads `min_upload_rate <size>/s [<grace>]` or
// `min_upload_rate off`.
func (in *Inspect) unmarshalUploadRate(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 || len(args) > 2 {
		return d.ArgErr()
	}
	if args[0] == "off" {
		if len(args) > 1 {
			return d.ArgErr()
		}
		in.MinUploadRate = -1
		return nil
	}
	size, ok := strings.CutSuffix(args[0], "/s")
	if !ok {
		return d.Errf("api_inspect: min_upload_rate %q must be a size per second, e.g. 10KB/s, or off", args[0])
	}
	rate, err := humanize.ParseBytes(size)
	if err != nil || rate < 1 || rate > math.MaxInt64 {
		return d.Errf("api_inspect: min_upload_rate %q must be a size per second, e.g. 10KB/s, or off", args[0])
	}
	in.MinUploadRate = int64(rate)
	if len(args) == 2 {
		grace, err := caddy.ParseDuration(args[1])
		if err != nil || grace <= 0 {
			return d.Errf("api_inspect: min_upload_rate: grace %q must be a positive duration", args[1])
		}
		in.UploadGrace = caddy.Duration(grace)
	}
	return nil
}

// unmarshalCaddyfile reads mask rules given inline and in a block.
func (mc *MaskConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	names := map[string]bool{}
	read := func(kind string, args func() (string, bool)) error {
		switch kind {
		case "card":
			if mc.Card {
				return d.Err("api_inspect: mask: card given twice")
			}
			mc.Card = true
		case "email":
			if mc.Email {
				return d.Err("api_inspect: mask: email given twice")
			}
			mc.Email = true
		case "regex":
			name, ok1 := args()
			pattern, ok2 := args()
			if !ok1 || !ok2 {
				return d.Err("api_inspect: mask: regex needs a name and a pattern")
			}
			if names[name] {
				return d.Errf("api_inspect: mask: regex %q given twice", name)
			}
			names[name] = true
			if _, err := inspect.NewMasker(inspect.MaskConfig{Regex: []inspect.MaskRule{{Name: name, Pattern: pattern}}}); err != nil {
				return d.Errf("api_inspect: %v", err)
			}
			mc.Regex = append(mc.Regex, MaskRegex{Name: name, Pattern: pattern})
		default:
			return d.Errf("api_inspect: mask: unknown kind %q (want card, email, regex <name> <pattern>)", kind)
		}
		return nil
	}
	next := func() (string, bool) {
		if !d.NextArg() {
			return "", false
		}
		return d.Val(), true
	}
	given := false
	for d.NextArg() {
		given = true
		if err := read(d.Val(), next); err != nil {
			return err
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		given = true
		if err := read(d.Val(), next); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if !given {
		return d.Err("api_inspect: mask needs card, email or regex <name> <pattern>")
	}
	return nil
}

// parseSizeArg reads one size argument (1MB, 512KiB, 1048576), as Caddy's
// request_body max_size does.
func parseSizeArg(d *caddyfile.Dispenser) (int64, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	size, err := humanize.ParseBytes(d.Val())
	if err != nil || size > math.MaxInt64 {
		return 0, d.Errf("%s: invalid size %q: %v", d.Val(), d.Val(), err)
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return int64(size), nil
}

var _ caddyfile.Unmarshaler = (*Inspect)(nil)
