package inspect

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_inspect [<matcher>] {
//		max_body        <size>                 # 413 above it, e.g. 1MB
//		min_upload_rate <size>/s [<grace>]|off # 408 below it (default with max_body: 10KB/s 10s)
//		json_depth      <n>                    # 400 for deeper or malformed JSON
//		content_types   <type>...              # 415 for request bodies of other types
//		block           sqli|xss...            # 403 for injection in query, path, form, JSON; 415 for other bodies
//		paths           strict|off             # default strict; also 400 for method overrides
//		mask [card] [email] [regex <name> <pattern>]... {
//			card
//			email
//			regex <name> <pattern>
//		}
//		audit [{
//			bodies <size>                      # log this much of each body, masked
//		}]
//		mode            enforce|report         # report: refuse nothing, record what would be refused
//	}
//
// It reads the syntax and the arguments; what they mean together is
// Validate's (content type patterns) and Provision's (mask patterns compile).
func (in *Inspect) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_inspect", func(name string) error {
		var err error
		switch name {
		case "max_body":
			in.MaxBody, err = gateway.ParseSize(d)
		case "min_upload_rate":
			err = in.unmarshalUploadRate(d)
		case "json_depth":
			in.JSONDepth, err = parseDepth(d)
		case "content_types":
			in.ContentTypes, err = remainingArgs(d)
		case "block":
			in.Block, err = remainingArgs(d, checkAttack)
		case "paths":
			in.Paths, err = gateway.OneArg(d)
			if err == nil {
				err = argError(d, checkPaths(in.Paths))
			}
		case "mask":
			in.Mask = new(MaskConfig)
			err = in.Mask.unmarshalCaddyfile(d)
		case "audit":
			in.Audit = new(AuditConfig)
			err = in.Audit.unmarshalCaddyfile(d)
		case "mode":
			in.Mode, err = gateway.ParseMode(d)
		default:
			err = gateway.Unknown(d, "api_inspect", name)
		}
		return err
	})
}

// remainingArgs reads one argument or more, each passing every check.
func remainingArgs(d *caddyfile.Dispenser, checks ...func(string) error) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	for _, a := range args {
		for _, check := range checks {
			if err := argError(d, check(a)); err != nil {
				return nil, err
			}
		}
	}
	return args, nil
}

// argError names the line of an argument's error, in the words Validate
// uses for the same rule.
func argError(d *caddyfile.Dispenser, err error) error {
	if err == nil {
		return nil
	}
	return d.Errf("api_inspect: %v", err)
}

// parseDepth reads the one argument of json_depth, a positive integer (0 is
// the default, which the Caddyfile spells by leaving json_depth out).
func parseDepth(d *caddyfile.Dispenser) (int, error) {
	s, err := gateway.OneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, d.Errf("api_inspect: json_depth %q must be a positive integer", s)
	}
	return n, nil
}

// unmarshalUploadRate reads `min_upload_rate <size>/s [<grace>]` or
// `min_upload_rate off`.
func (in *Inspect) unmarshalUploadRate(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	if d.Val() == "off" {
		if d.NextArg() {
			return d.ArgErr()
		}
		in.MinUploadRate = -1
		return nil
	}
	size, ok := strings.CutSuffix(d.Val(), "/s")
	rate, err := humanize.ParseBytes(size)
	if !ok || err != nil || rate < 1 || rate > math.MaxInt64 {
		return d.Errf("api_inspect: min_upload_rate %q must be a size per second, e.g. 10KB/s, or off", d.Val())
	}
	in.MinUploadRate = int64(rate)
	if !d.NextArg() {
		return nil
	}
	d.Prev()
	grace, err := gateway.ParseDuration(d)
	if err != nil {
		return err
	}
	if grace == 0 {
		// upload_grace 0 is the default: the Caddyfile leaves it out.
		return d.Errf("api_inspect: min_upload_rate: grace %q must be a positive duration", d.Val())
	}
	in.UploadGrace = grace
	return nil
}

// unmarshalCaddyfile reads `audit [{ bodies <size> }]`.
func (a *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_inspect: audit", func(name string) error {
		if name != "bodies" {
			return gateway.Unknown(d, "api_inspect: audit", name)
		}
		var err error
		a.Bodies, err = gateway.ParseSize(d)
		return err
	})
}

// unmarshalCaddyfile reads mask rules given inline and in a block.
func (mc *MaskConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	given := false
	for d.NextArg() {
		given = true
		if err := mc.unmarshalRule(d, d.Val()); err != nil {
			return err
		}
	}
	err := gateway.Block(d, "api_inspect: mask", func(kind string) error {
		given = true
		if err := mc.unmarshalRule(d, kind); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	}, "regex")
	if err == nil && !given {
		err = d.Err("api_inspect: mask needs card, email or regex <name> <pattern>")
	}
	return err
}

// unmarshalRule reads one rule of mask: card, email or regex <name>
// <pattern>.
func (mc *MaskConfig) unmarshalRule(d *caddyfile.Dispenser, kind string) error {
	switch kind {
	case "card", "email":
		set := &mc.Card
		if kind == "email" {
			set = &mc.Email
		}
		if *set {
			return d.Errf("api_inspect: mask: %s given twice", kind)
		}
		*set = true
	case "regex":
		if !d.NextArg() {
			return d.Err("api_inspect: mask: regex needs a name and a pattern")
		}
		name := d.Val()
		if !d.NextArg() {
			return d.Err("api_inspect: mask: regex needs a name and a pattern")
		}
		for _, r := range mc.Regex {
			if r.Name == name {
				return d.Errf("api_inspect: mask: regex %q given twice", name)
			}
		}
		mc.Regex = append(mc.Regex, MaskRule{Name: name, Pattern: d.Val()})
	default:
		return d.Errf("api_inspect: mask: unknown kind %q (want card, email, regex <name> <pattern>)", kind)
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Inspect)(nil)
