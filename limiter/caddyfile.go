package limiter

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

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
//		sync             lease [<time>]|exact   # redis: default lease 50ms
//		max_keys         <keys>
//		mode             enforce|report
//	}
//
// The inline rate is a zone named default, keyed by consumer, else client IP,
// whose buckets are this directive's own: its ID is where the directive is
// written (the file's base name and the line, and the places of the imports
// that brought it: writtenAt), which the same Caddyfile adapts to again on
// every reload. A zone given a name is shared with every
// directive that names it.
//
// It reads the syntax and the arguments; the rules that relate several of
// them (zone names unique, a zone's rate present) are Validate's.
func (rl *RateLimit) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		z := &RateZone{Name: defaultZone, ID: writtenAt(d)}
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
	err := gateway.Block(d, "api_rate_limit", func(name string) error {
		switch name {
		case "zone":
			return rl.unmarshalZone(d)
		case "backend":
			return parseWord(d, &rl.Backend, checkBackend)
		case "on_backend_error":
			return parseWord(d, &rl.OnBackendError, checkOnBackendError)
		case "sync":
			return rl.unmarshalSync(d)
		case "mode":
			mode, err := gateway.ParseMode(d)
			rl.Mode = mode
			return err
		case "max_keys":
			s, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			rl.MaxKeys, err = parseCount(d, "max_keys", s)
			return err
		}
		return gateway.Unknown(d, "api_rate_limit", name)
	}, "zone")
	if err != nil {
		return err
	}
	if len(rl.Zones) == 0 {
		return d.Err("api_rate_limit: want a rate (api_rate_limit 100/1m) or at least one zone")
	}
	return nil
}

// unmarshalSync reads `sync lease [<time>]` or `sync exact`.
func (rl *RateLimit) unmarshalSync(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == syncExact, len(args) == 1 && args[0] == syncLease:
	case len(args) == 2 && args[0] == syncLease:
		t, err := caddy.ParseDuration(args[1])
		if err != nil || t <= 0 || t > time.Minute {
			return d.Errf("api_rate_limit: sync lease %q: want a duration up to 1m, like 50ms", args[1])
		}
		rl.LeaseTime = caddy.Duration(t)
	default:
		return d.Err("api_rate_limit: want sync lease [<time>] or sync exact")
	}
	rl.Sync = args[0]
	return nil
}

// unmarshalZone reads `zone <name> { ... }`.
func (rl *RateLimit) unmarshalZone(d *caddyfile.Dispenser) error {
	name, err := gateway.OneArg(d)
	if err != nil {
		return err
	}
	if err := checkZoneName(name); err != nil {
		return d.Errf("api_rate_limit: %v", err)
	}
	z := &RateZone{Name: name}
	rl.Zones = append(rl.Zones, z)
	return gateway.Block(d, "zone "+name, func(sub string) error {
		switch sub {
		case "key":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			z.Key = strings.Join(args, " ")
			return nil
		case "rate", "burst":
			s, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			if sub == "rate" {
				return z.setRate(d, s)
			}
			return z.setBurst(d, s)
		case "tier":
			return z.unmarshalTier(d)
		}
		return gateway.Unknown(d, "zone "+name, sub)
	}, "tier")
}

// unmarshalTier reads `tier <name> <requests>/<window> [<burst>]`.
func (z *RateZone) unmarshalTier(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 && len(args) != 3 {
		return d.Errf("zone %s: want tier <name> <requests>/<window> [<burst>]", z.Name)
	}
	if err := checkTierName(args[0]); err != nil {
		return d.Errf("zone %s: %v", z.Name, err)
	}
	n, w, err := ParseRate(args[1])
	if err != nil {
		return d.Errf("zone %s: tier %s: %v", z.Name, args[0], err)
	}
	t := &RateTier{Name: args[0], Requests: n, Window: caddy.Duration(w)}
	if len(args) == 3 {
		if t.Burst, err = parseCount(d, "burst", args[2]); err != nil {
			return err
		}
	}
	z.Tiers = append(z.Tiers, t)
	return nil
}

func (z *RateZone) setRate(d *caddyfile.Dispenser, s string) error {
	n, w, err := ParseRate(s)
	if err != nil {
		return d.Errf("api_rate_limit: %v", err)
	}
	z.Requests, z.Window = n, caddy.Duration(w)
	return nil
}

func (z *RateZone) setBurst(d *caddyfile.Dispenser, s string) (err error) {
	z.Burst, err = parseCount(d, "burst", s)
	return err
}

// parseCount reads s, the argument of what, as a whole number of at least 1
// (how large it may be is Validate's).
func parseCount(d *caddyfile.Dispenser, what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, d.Errf("api_rate_limit: %s %q must be a whole number of at least 1", what, s)
	}
	return n, nil
}

// writtenAt names where the current token is written: the file's base name
// and the line, and, for a token of a snippet or an imported file, where each
// import of it is written (Caddyfile:2 (import Caddyfile:7)), so that one
// snippet imported on two routes names two places. Caddy keeps the import
// chain to itself but for the errors it wraps: it is read from one.
func writtenAt(d *caddyfile.Dispenser) string {
	at := filepath.Base(d.File()) + ":" + strconv.Itoa(d.Line())
	_, chain, ok := strings.Cut(d.WrapErr(errors.New("")).Error(), " import chain ['")
	if !ok {
		return at
	}
	for _, imp := range strings.Split(strings.TrimSuffix(chain, "']"), "','") {
		file, _, _ := strings.Cut(imp, " (")
		at += " (import " + filepath.Base(file) + ")"
	}
	return at
}

// parseWord reads one argument into dst, refusing what check refuses.
func parseWord(d *caddyfile.Dispenser, dst *string, check func(string) error) error {
	s, err := gateway.OneArg(d)
	if err != nil {
		return err
	}
	if err := check(s); err != nil {
		return d.Errf("api_rate_limit: %v", err)
	}
	*dst = s
	return nil
}

var _ caddyfile.Unmarshaler = (*RateLimit)(nil)
