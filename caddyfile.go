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

func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(authn.Auth)
	return a, a.UnmarshalCaddyfile(h.Dispenser)
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
	_ caddyfile.Unmarshaler = (*Authorize)(nil)
	_ caddyfile.Unmarshaler = (*MatchScope)(nil)
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
//		json_depth    <n>             # 400 for deeper or malformed JSON
//		content_types <type>...       # 415 for request bodies of other types
//		block         sqli|xss...     # 403 for injection in query, path, form, JSON
//		paths         strict|off      # default strict
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
