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

func parseCache(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(cache.Cache)
	return c, c.UnmarshalCaddyfile(h.Dispenser)
}

func parseRateLimit(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	rl := new(limiter.RateLimit)
	return rl, rl.UnmarshalCaddyfile(h.Dispenser)
}

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
