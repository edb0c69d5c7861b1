package apigate

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
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
		case "notify", "signing":
			return d.Errf("api_gateway: %q is not supported yet by this version of caddy-apigate", name)
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
		case "grace", "max_age", "warn_before":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			switch name {
			case "grace":
				k.Grace = dur
			case "max_age":
				k.MaxAge = dur
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
		case "jwt", "introspect", "client_cert", "lockout", "upstream_token":
			return d.Errf("api_auth: %q is not supported yet by this version of caddy-apigate", name)
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
	az := new(Authorize)
	err := az.UnmarshalCaddyfile(h.Dispenser)
	return az, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_authorize [<matcher>] [<scope>...]
//	api_authorize [<matcher>] {
//		all <scope>...      # every one of these
//		any <scope>...      # at least one of these
//		ip  <cidr|ip>...    # client addresses allowed
//	}
//
// Scopes given inline are added to `all`. With no scope at all, any
// authenticated caller may pass.
func (az *Authorize) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	for d.NextArg() {
		if err := checkScopeArg(d); err != nil {
			return err
		}
		az.All = append(az.All, d.Val())
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_authorize: duplicate subdirective %q", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		switch name {
		case "all", "any":
			for _, s := range args {
				if !validScopeToken(s) {
					return d.Errf("api_authorize: scope %q is not valid", s)
				}
			}
			if name == "all" {
				az.All = append(az.All, args...)
			} else {
				az.Any = append(az.Any, args...)
			}
		case "ip":
			for _, s := range args {
				if _, err := parsePrefixArg(s); err != nil {
					return d.Errf("api_authorize: ip %q is not an IP address or CIDR prefix", s)
				}
			}
			az.IPs = append(az.IPs, args...)
		default:
			return d.Errf("api_authorize: unrecognized subdirective %q", name)
		}
	}
	return nil
}

func checkScopeArg(d *caddyfile.Dispenser) error {
	if !validScopeToken(d.Val()) {
		return d.Errf("scope %q is not valid", d.Val())
	}
	return nil
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	api_scope <scope>...
func (m *MatchScope) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		for _, s := range args {
			if !validScopeToken(s) {
				return d.Errf("api_scope: scope %q is not valid", s)
			}
		}
		*m = append(*m, args...)
		if d.NextBlock(0) {
			return d.Err("api_scope takes no block")
		}
	}
	return nil
}

var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Auth)(nil)
	_ caddyfile.Unmarshaler = (*Authorize)(nil)
	_ caddyfile.Unmarshaler = (*MatchScope)(nil)
	_                       = json.RawMessage(nil)
)

func parseCache(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(Cache)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_cache [<matcher>] {
//		ttl      <duration>   # when the upstream gives no freshness; default 0 (none)
//		max_size <size>       # e.g. 256MB (default 256MiB)
//		max_item <size>       # e.g. 1MB (default 1MiB)
//		share    public       # `Cache-Control: public` responses may be shared
//		wait     <duration>   # concurrent misses wait this long for the first; default 10s
//	}
//
// Sizes take units as Caddy's request_body does (KB, MB, GB are powers of
// 1000; KiB, MiB, GiB powers of 1024).
func (c *Cache) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("api_cache: duplicate subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "ttl", "wait":
			dur, err := parseDurationArg(d)
			if err != nil {
				return err
			}
			if name == "ttl" {
				c.TTL = dur
			} else {
				c.Wait = dur
			}
		case "max_size", "max_item":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 1<<50 {
				return d.Errf("api_cache: %s %q is not a size such as 256MB", name, d.Val())
			}
			if name == "max_size" {
				c.MaxSize = int64(n)
			} else {
				c.MaxItem = int64(n)
			}
		case "share":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() != "public" {
				return d.Errf("api_cache: share %q: the only value is public", d.Val())
			}
			c.Share = d.Val()
		default:
			return d.Errf("api_cache: unrecognized subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if c.MaxSize > 0 && c.MaxItem > c.MaxSize {
		return d.Errf("api_cache: max_item is larger than max_size")
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Cache)(nil)
