package openapi

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_openapi [<matcher>] <file> {
//		validate request [response]   # response: checked in report mode only
//		scopes   from_security         # the operation's security requirements become required scopes
//		max_body <size>                # largest body read for validation (default 1MiB)
//		mode     enforce|report
//	}
func (o *OpenAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if !d.NextArg() {
		return d.Err("api_openapi: want the OpenAPI document's file")
	}
	o.File = d.Val()
	if d.NextArg() {
		return d.Errf("api_openapi: unexpected argument %q: settings go in the block", d.Val())
	}
	return gateway.Block(d, "api_openapi", func(name string) error {
		switch name {
		case "validate":
			return o.parseValidate(d)
		case "scopes":
			s, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			if s != ScopesFromSecurity {
				return d.Errf("api_openapi: scopes %q: want %s", s, ScopesFromSecurity)
			}
			o.Scopes = s
		case "max_body":
			size, err := gateway.ParseSize(d)
			if err != nil {
				return err
			}
			if size == 0 {
				return d.Err("api_openapi: max_body must be more than 0")
			}
			o.MaxBody = size
		case "mode":
			mode, err := gateway.ParseMode(d)
			if err != nil {
				return err
			}
			o.Mode = mode
		default:
			return gateway.Unknown(d, "api_openapi", name)
		}
		return nil
	})
}

// parseValidate reads `validate request [response]`.
func (o *OpenAPI) parseValidate(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	for _, a := range args {
		switch a {
		case "request":
			o.ValidateRequest = true
		case "response":
			o.ValidateResponse = true
		default:
			return d.Errf("api_openapi: validate %q: want request or response", a)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*OpenAPI)(nil)
