package authn

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The Caddyfile grammar of the replay protections: api_key_leak and the jwt
// method's bound_tokens (require_tls is in api_auth's, caddyfile.go).

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_key_leak [<matcher>] [github] {
//		max_body   <size>              # default 1MiB
//		rate_limit <n>/<window>        # per client address, default 30/1m
//		# the github form only:
//		keys_url   <url>               # default GitHub's published list
//		key        <identifier> <pem>  # repeatable; {file./path} works
//		timeout    <duration>          # default 5s
//		unknown_kid_interval <duration> # least time between fetches for unknown key ids, default 1m
//	}
func (h *KeyLeak) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		if d.Val() != "github" {
			return d.Errf("api_key_leak: unknown form %q (want github or nothing)", d.Val())
		}
		h.GitHub = new(GitHubScanning)
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return gateway.Block(d, "api_key_leak", func(name string) error {
		switch name {
		case "max_body":
			n, err := gateway.ParseSize(d)
			h.MaxBody = n
			return err
		case "rate_limit":
			n, window, err := gateway.ParseRate(d)
			h.RateLimit, h.RateWindow = n, caddy.Duration(window)
			if err == nil && d.NextArg() {
				return d.ArgErr()
			}
			return err
		case "keys_url", "key", "timeout", "unknown_kid_interval":
			if h.GitHub == nil {
				return d.Errf("api_key_leak: %s belongs to the github form (api_key_leak github { ... })", name)
			}
			return h.GitHub.unmarshalSub(d, name)
		}
		return gateway.Unknown(d, "api_key_leak", name)
	}, "key")
}

func (gh *GitHubScanning) unmarshalSub(d *caddyfile.Dispenser, name string) error {
	switch name {
	case "keys_url":
		return oneArgInto(d, &gh.KeysURL)
	case "timeout":
		return durationInto(d, &gh.Timeout)
	case "unknown_kid_interval":
		return durationInto(d, &gh.UnknownKidInterval)
	}
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	gh.PublicKeys = append(gh.PublicKeys, GitHubPublicKey{KeyIdentifier: args[0], Key: args[1]})
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*KeyLeak)(nil)

// unmarshalCaddyfile parses bound_tokens in the jwt method of api_auth (see
// JWTMethod.unmarshalCaddyfile).
func (c *BoundTokensConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		if d.Val() != "required" {
			return d.Errf("bound_tokens: unknown argument %q (want required or nothing)", d.Val())
		}
		c.Required = true
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return gateway.Block(d, "bound_tokens", func(name string) error {
		switch name {
		case "proof_algorithms":
			return argsInto(d, &c.ProofAlgorithms)
		case "proof_window":
			return durationInto(d, &c.ProofWindow)
		}
		return gateway.Unknown(d, "bound_tokens", name)
	})
}
