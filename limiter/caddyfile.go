package limiter

import (
	"strconv"
	"strings"

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
			if gateway.CheckScope("tier:"+t.Name) != "" || strings.ContainsAny(t.Name, " \t") {
				return d.Errf("zone %s: tier name %q does not make a valid scope", z.Name, t.Name)
			}
			if tiers[t.Name] {
				return d.Errf("zone %s: duplicate tier %q", z.Name, t.Name)
			}
			tiers[t.Name] = true
			n, w, err := ParseRate(args[1])
			if err != nil {
				return d.Errf("zone %s: tier %s: %v", z.Name, t.Name, err)
			}
			t.Requests, t.Window = n, caddy.Duration(w)
			if len(args) == 3 {
				b, err := strconv.Atoi(args[2])
				if err != nil || b < 1 || b > MaxRequests {
					return d.Errf("zone %s: tier %s: burst %q must be a number between 1 and %d", z.Name, t.Name, args[2], MaxRequests)
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
	n, w, err := ParseRate(s)
	if err != nil {
		return d.Errf("api_rate_limit: %v", err)
	}
	z.Requests, z.Window = n, caddy.Duration(w)
	return nil
}

func (z *RateZone) setBurst(d *caddyfile.Dispenser, s string) error {
	b, err := strconv.Atoi(s)
	if err != nil || b < 1 || b > MaxRequests {
		return d.Errf("api_rate_limit: burst %q must be a number between 1 and %d", s, MaxRequests)
	}
	z.Burst = b
	return nil
}

var _ caddyfile.Unmarshaler = (*RateLimit)(nil)
