package authz

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_authorize [<matcher>] [<scope>...]
//	api_authorize [<matcher>] [<scope>...] {
//		all  <scope>...        # every one of these
//		any  <scope>...        # at least one of these
//		ip   <cidr|ip>...      # client addresses allowed
//		mode enforce|report    # report: refuse nothing, record what would be refused
//	}
//
// Scopes given inline are added to `all`. With no scope at all, any
// authenticated caller may pass. The shorthand enforces.
func (az *Authorize) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.CountRemainingArgs() > 0 {
		scopes, err := gateway.ParseScopes(d)
		if err != nil {
			return err
		}
		az.All = append(az.All, scopes...)
	}
	return gateway.Block(d, "api_authorize", func(name string) error {
		switch name {
		case "all", "any":
			scopes, err := gateway.ParseScopes(d)
			if err != nil {
				return err
			}
			if name == "all" {
				az.All = append(az.All, scopes...)
			} else {
				az.Any = append(az.Any, scopes...)
			}
		case "ip":
			ips, err := gateway.ParseIPs(d)
			if err != nil {
				return err
			}
			az.IPs = append(az.IPs, ips...)
		case "mode":
			mode, err := gateway.ParseMode(d)
			if err != nil {
				return err
			}
			az.Mode = mode
		default:
			return gateway.Unknown(d, "api_authorize", name)
		}
		return nil
	})
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	api_scope <scope>...
func (m *MatchScope) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		scopes, err := gateway.ParseScopes(d)
		if err != nil {
			return err
		}
		*m = append(*m, scopes...)
		if d.NextBlock(0) {
			return d.Err("api_scope takes no block")
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Authorize)(nil)
	_ caddyfile.Unmarshaler = (*MatchScope)(nil)
)
