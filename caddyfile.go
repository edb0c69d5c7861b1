package apigate

import (
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/inspect"
	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/limiter"
	"github.com/apigate/caddy-apigate/monitor"
	"github.com/apigate/caddy-apigate/notify"
	"github.com/apigate/caddy-apigate/openapi"
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
	return gateway.Block(d, "api_gateway", func(name string) error {
		switch name {
		case "keys":
			a.Keys = new(KeysConfig)
			return blockOnly(d, a.Keys.unmarshalCaddyfile)
		case "redis":
			var err error
			a.Redis, err = gateway.OneArg(d)
			return err
		case "notify":
			url, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			a.Notify = &NotifyConfig{URL: url}
			return a.Notify.unmarshalCaddyfile(d)
		case "signing":
			a.Signing = new(SigningConfig)
			return blockOnly(d, a.Signing.unmarshalCaddyfile)
		}
		return gateway.Unknown(d, "api_gateway", name)
	})
}

// blockOnly parses a subdirective that takes a block and no arguments.
func blockOnly(d *caddyfile.Dispenser, parse func(*caddyfile.Dispenser) error) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return parse(d)
}

func (k *KeysConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return gateway.Block(d, "keys", func(name string) error {
		var err error
		switch name {
		case "prefix":
			k.Prefix, err = gateway.OneArg(d)
		case "grace":
			k.Grace, err = gateway.ParseDuration(d)
		case "max_age":
			k.MaxAge, err = gateway.ParseDuration(d)
		case "warn_before":
			k.WarnBefore, err = gateway.ParseDuration(d)
		case "refresh":
			k.Refresh, err = gateway.ParseDuration(d)
		default:
			err = gateway.Unknown(d, "keys", name)
		}
		return err
	})
}

func (c *NotifyConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := gateway.Block(d, "notify", func(name string) error {
		var err error
		switch name {
		case "secret":
			c.Secret, err = gateway.OneArg(d)
		case "timeout":
			c.Timeout, err = gateway.ParseDuration(d)
		default:
			err = gateway.Unknown(d, "notify", name)
		}
		return err
	})
	if err == nil && c.Secret == "" {
		return d.Errf("notify: %v", notify.ErrNoSecret)
	}
	return err
}

// unmarshalCaddyfile parses the signing block of the api_gateway option.
// Its values are checked here, with the words of App.Validate, so that the
// error names the line.
func (c *SigningConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return gateway.Block(d, "signing", func(name string) error {
		switch name {
		case "algorithm":
			val, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			if err := authn.CheckSigningAlg(val); err != nil {
				return d.Errf("signing: %v", err)
			}
			c.Algorithm = val
			return nil
		case "rotate_every":
			dur, err := gateway.ParseDuration(d)
			if err != nil {
				return err
			}
			if err := authn.CheckRotateEvery(time.Duration(dur)); err != nil {
				return d.Errf("signing: %v", err)
			}
			c.RotateEvery = dur
			return nil
		}
		return gateway.Unknown(d, "signing", name)
	})
}

// The handler directives, each parsed by the UnmarshalCaddyfile of its type,
// beside the type in its capability folder.
var (
	parseAuth         = parseHandler[authn.Auth]
	parseKeyRotate    = parseHandler[authn.KeyRotate]
	parseJWKS         = parseHandler[authn.JWKSHandler]
	parseAuthorize    = parseHandler[authz.Authorize]
	parseRateLimit    = parseHandler[limiter.RateLimit]
	parseCache        = parseHandler[cache.Cache]
	parseInspect      = parseHandler[inspect.Inspect]
	parseKeyLeak      = parseHandler[authn.KeyLeak]
	parseMonitor      = parseHandler[monitor.Monitor]
	parseUpstreamAuth = parseHandler[upstream.UpstreamAuth]
	parseOpenAPI      = parseHandler[openapi.OpenAPI]
)

// parseHandler hands a directive's tokens to a new T.
func parseHandler[T any, PT interface {
	*T
	caddyhttp.MiddlewareHandler
	caddyfile.Unmarshaler
}](h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	v := PT(new(T))
	return v, v.UnmarshalCaddyfile(h.Dispenser)
}
