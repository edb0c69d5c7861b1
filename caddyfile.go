package apigate

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/inspect"
	"github.com/apigate/caddy-apigate/limiter"
	"github.com/apigate/caddy-apigate/monitor"
	"github.com/apigate/caddy-apigate/upstream"
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
	k := new(authn.KeyRotate)
	return k, k.UnmarshalCaddyfile(h.Dispenser)
}

func parseKeyLeak(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	k := new(authn.KeyLeak)
	return k, k.UnmarshalCaddyfile(h.Dispenser)
}

func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(authn.Auth)
	return a, a.UnmarshalCaddyfile(h.Dispenser)
}

func parseAuthorize(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	az := new(authz.Authorize)
	return az, az.UnmarshalCaddyfile(h.Dispenser)
}

var (
	_ caddyfile.Unmarshaler = (*App)(nil)
)

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

func parseJWKS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	j := new(authn.JWKSHandler)
	return j, j.UnmarshalCaddyfile(h.Dispenser)
}

func parseMonitor(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(monitor.Monitor)
	return m, m.UnmarshalCaddyfile(h.Dispenser)
}

func parseCache(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(cache.Cache)
	return c, c.UnmarshalCaddyfile(h.Dispenser)
}

func parseUpstreamAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	u := new(upstream.UpstreamAuth)
	return u, u.UnmarshalCaddyfile(h.Dispenser)
}

func parseRateLimit(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	rl := new(limiter.RateLimit)
	return rl, rl.UnmarshalCaddyfile(h.Dispenser)
}

func parseInspect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	in := new(inspect.Inspect)
	return in, in.UnmarshalCaddyfile(h.Dispenser)
}
