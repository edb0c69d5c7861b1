package openapi

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_openapi [<matcher>] [<file>] {
//		file     <file>                # instead of the argument
//		validate request [response]   # response: checked in report mode only
//		scopes   from_security         # the operation's security requirements become required scopes
//		max_body <size>                # largest body read for validation (default 1MiB)
//		mode     enforce|report
//	}
//
// Caddy reads a first argument that starts with / as a path matcher: write
// an absolute file with a matcher before it (`api_openapi * /etc/api.yaml`)
// or in the block (`file /etc/api.yaml`).
func (o *OpenAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		o.File = d.Val()
	}
	if d.NextArg() {
		return d.Errf("api_openapi: unexpected argument %q: settings go in the block", d.Val())
	}
	err := gateway.Block(d, "api_openapi", func(name string) error {
		switch name {
		case "file":
			f, err := gateway.OneArg(d)
			if err != nil {
				return err
			}
			if o.File != "" {
				return d.Err("api_openapi: the file is given twice")
			}
			o.File = f
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
	if err == nil && o.File == "" {
		return d.Err("api_openapi: want the OpenAPI document's file")
	}
	return err
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
