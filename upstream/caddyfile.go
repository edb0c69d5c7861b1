package upstream

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_upstream_auth [<matcher>] {
//		token_exchange <token endpoint> {
//			client_id     <id>
//			client_secret <secret>             # {env.X} and {file./path} work
//			auth_method   client_secret_basic|client_secret_post|private_key_jwt
//			key_file      <pem>                # private_key_jwt
//			assertion_audience <aud>           # private_key_jwt (default: the token URL)
//			key_id        <kid>
//			audience      <audience>...
//			scope         <scope>...
//			resource      <uri>...
//			subject_token_type access_token|jwt
//			fallback      client_credentials   # for callers without a token
//		}
//		# or:
//		client_credentials <token endpoint> {
//			client_id     <id>
//			client_secret <secret>
//			auth_method   client_secret_basic|client_secret_post
//			scope         <scope>...
//			audience      <audience>...
//		}
//		header     <name>                      # default Authorization (Bearer <token>)
//		timeout    <duration>                  # one token request; default 10s
//		cache_size <tokens>                    # default 10000
//	}
func (u *UpstreamAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_upstream_auth", func(name string) error {
		var err error
		switch name {
		case "token_exchange", "client_credentials":
			if u.TokenExchange != nil || u.ClientCredentials != nil {
				return d.Errf("api_upstream_auth: give one of token_exchange and client_credentials")
			}
			if name == "token_exchange" {
				u.TokenExchange = new(TokenExchange)
				return u.TokenExchange.unmarshal(d)
			}
			u.ClientCredentials = new(ClientCredentials)
			return u.ClientCredentials.unmarshal(d)
		case "header":
			if u.Header, err = gateway.OneArg(d); err == nil && !validHeaderName(u.Header) {
				err = d.Errf("api_upstream_auth: header %q is not a header name", u.Header)
			}
		case "timeout":
			u.Timeout, err = gateway.ParseDuration(d)
		case "cache_size":
			var s string
			if s, err = gateway.OneArg(d); err == nil {
				if u.CacheSize, err = strconv.ParseInt(s, 10, 64); err != nil || u.CacheSize < 1 {
					err = d.Errf("api_upstream_auth: cache_size %q: want a number of tokens, at least 1", s)
				}
			}
		default:
			err = gateway.Unknown(d, "api_upstream_auth", name)
		}
		return err
	})
}

// endpointBlock reads `<grant> <token endpoint> { ... }`: the URL, then each
// subdirective through each (client_id, client_secret and auth_method are
// read here).
func endpointBlock(d *caddyfile.Dispenser, grant string, tokenURL, clientID, secret, method *string, each func(string) error) error {
	var err error
	if *tokenURL, err = gateway.OneArg(d); err != nil {
		return err
	}
	err = gateway.Block(d, grant, func(name string) error {
		switch name {
		case "client_id":
			*clientID, err = gateway.OneArg(d)
		case "client_secret":
			*secret, err = gateway.OneArg(d)
		case "auth_method":
			*method, err = gateway.OneArg(d)
		default:
			err = each(name)
		}
		return err
	})
	return err
}

func (te *TokenExchange) unmarshal(d *caddyfile.Dispenser) error {
	err := endpointBlock(d, "token_exchange", &te.TokenURL, &te.ClientID, &te.ClientSecret, &te.AuthMethod, func(name string) error {
		var err error
		switch name {
		case "key_file":
			te.KeyFile, err = gateway.OneArg(d)
		case "key_id":
			te.KeyID, err = gateway.OneArg(d)
		case "assertion_audience":
			te.AssertionAudience, err = gateway.OneArg(d)
		case "audience":
			te.Audience, err = someArgs(d)
		case "scope":
			te.Scope, err = gateway.ParseScopes(d)
		case "resource":
			te.Resource, err = someArgs(d)
		case "subject_token_type":
			te.SubjectTokenType, err = gateway.OneArg(d)
		case "fallback":
			te.Fallback, err = gateway.OneArg(d)
		default:
			err = gateway.Unknown(d, "token_exchange", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := te.validate(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

func (cc *ClientCredentials) unmarshal(d *caddyfile.Dispenser) error {
	err := endpointBlock(d, "client_credentials", &cc.TokenURL, &cc.ClientID, &cc.ClientSecret, &cc.AuthMethod, func(name string) error {
		var err error
		switch name {
		case "audience":
			cc.Audience, err = someArgs(d)
		case "scope":
			cc.Scope, err = gateway.ParseScopes(d)
		default:
			err = gateway.Unknown(d, "client_credentials", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := cc.validate(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// someArgs reads the remaining arguments, at least one.
func someArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

var _ caddyfile.Unmarshaler = (*UpstreamAuth)(nil)
