package gateway

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/apigate/caddy-apigate/keystore"
)

// The small parsers every directive's UnmarshalCaddyfile shares. Each reads
// from the dispenser's current position and returns an error that names the
// line (d.Errf), in words a user can act on, never a Go parser's message.

// Block walks the subdirectives of the block that follows the current token
// and calls each with the name of every one. A subdirective given twice is an
// error unless repeatable names it; each answers an unknown name with
// Unknown.
func Block(d *caddyfile.Dispenser, directive string, each func(name string) error, repeatable ...string) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && !slices.Contains(repeatable, name) {
			return d.Errf("%s: duplicate subdirective %q", directive, name)
		}
		seen[name] = true
		if err := each(name); err != nil {
			return err
		}
	}
	return nil
}

// Unknown is the error for a subdirective directive does not have.
func Unknown(d *caddyfile.Dispenser, directive, name string) error {
	return d.Errf("%s: unrecognized subdirective %q", directive, name)
}

// OneArg reads exactly one argument.
func OneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	val := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return val, nil
}

// ParseDuration reads exactly one duration argument (Go syntax such as 90s or
// 1h30m, plus d for days), which must not be negative.
func ParseDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	s, err := OneArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("invalid duration %q: want a number with a unit, such as 30s, 15m, 2h or 7d", s)
	}
	if dur < 0 {
		return 0, d.Errf("invalid duration %q: must not be negative", s)
	}
	return caddy.Duration(dur), nil
}

// ParseCount reads exactly one argument that is a whole number, 0 or more.
func ParseCount(d *caddyfile.Dispenser) (int, error) {
	s, err := OneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, d.Errf("invalid number %q: want a whole number, such as 10000", s)
	}
	return n, nil
}

// ParseRate reads the next argument as a rate, N/W: N events (a whole number,
// 1 or more) per window W (a duration such as 1s, 1m, 1h or 1d; a unit alone,
// as in 100/m, means one of it). More arguments may follow. Bounds that depend
// on what the rate limits are the caller's Validate.
func ParseRate(d *caddyfile.Dispenser) (n int, window time.Duration, err error) {
	if !d.NextArg() {
		return 0, 0, d.ArgErr()
	}
	s := d.Val()
	bad := d.Errf("invalid rate %q: want events/window, such as 100/1m", s)
	num, win, ok := strings.Cut(s, "/")
	if !ok || num == "" || num[0] == '+' {
		return 0, 0, bad
	}
	if n, err = strconv.Atoi(num); err != nil || n < 1 {
		return 0, 0, bad
	}
	if win != "" && (win[0] < '0' || win[0] > '9') {
		win = "1" + win
	}
	dur, err := caddy.ParseDuration(win)
	if err != nil || dur <= 0 {
		return 0, 0, bad
	}
	return n, dur, nil
}

// ParseSize reads exactly one size argument (1MB, 512KiB, 1048576), as
// Caddy's request_body max_size does.
func ParseSize(d *caddyfile.Dispenser) (int64, error) {
	s, err := OneArg(d)
	if err != nil {
		return 0, err
	}
	size, err := humanize.ParseBytes(s)
	if err != nil || size > math.MaxInt64 {
		return 0, d.Errf("invalid size %q: want a number of bytes with an optional unit, such as 1MB, 512KiB or 1048576", s)
	}
	return int64(size), nil
}

// ParseMode reads the one argument of `mode enforce|report`.
func ParseMode(d *caddyfile.Dispenser) (Mode, error) {
	s, err := OneArg(d)
	if err != nil {
		return "", err
	}
	if s == "" || Mode(s).Validate() != nil {
		return "", d.Errf("%v", modeError(s))
	}
	return Mode(s), nil
}

// ParseScopes reads the remaining arguments as scopes, at least one. A scope
// is one token of the scope grammar (keystore.ValidScope): scopes are
// separated by spaces, so a comma or an equals sign inside one is a mistake
// this names, not a scope nobody holds.
func ParseScopes(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	for _, s := range args {
		if err := CheckScope(s); err != "" {
			return nil, d.Errf("%s", err)
		}
	}
	return args, nil
}

// CheckScope returns why s is not a scope, or "". The Caddyfile, the JSON
// config, the admin API and the CLI use it, so they speak one grammar.
func CheckScope(s string) string {
	switch {
	case strings.Contains(s, ","):
		return "scope " + quote(s) + " contains a comma: list scopes separated by spaces (" + strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ',' }), " ") + ")"
	case strings.Contains(s, "="):
		name, value, _ := strings.Cut(s, "=")
		return "scope " + quote(s) + " contains '=': write the scope alone (" + value + "), not " + name + "=" + value
	case !keystore.ValidScope(s):
		return "scope " + quote(s) + " is not valid: a scope is printable ASCII without spaces, quotes or backslashes, at most " + strconv.Itoa(keystore.MaxScopeLen) + " bytes"
	}
	return ""
}

// ParseIPs reads the remaining arguments as client addresses, at least one:
// IP addresses or CIDR prefixes (CheckIP).
func ParseIPs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	for _, s := range args {
		if err := CheckIP(s); err != "" {
			return nil, d.Errf("%s", err)
		}
	}
	return args, nil
}

// CheckIP returns why s is not a client address of an allow list (an IP
// address or a CIDR prefix, as key records' allowed_ips), or "". The
// Caddyfile and the JSON config use it.
func CheckIP(s string) string {
	if _, err := ParsePrefix(s); err != nil {
		return "ip " + quote(s) + " is not an IP address or CIDR prefix"
	}
	return ""
}

// ParsePrefix parses a client address of an allow list: an IP address (a
// prefix of its full length, IPv4-mapped IPv6 unmapped) or a CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) { return keystore.ParsePrefix(s) }

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
