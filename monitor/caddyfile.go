package monitor

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_monitor [<matcher>] <route name> {
//		window       <duration>         # sliding window, at least 1s; default 1m
//		error_rate   <percent>%         # e.g. 5%; default 5% unless only latency is set
//		latency      p<NN> <duration>   # e.g. p99 800ms
//		min_requests <n>                # no verdict on fewer; default 20
//	}
func (m *Monitor) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if !d.NextArg() {
		return d.Errf("api_monitor: want the route's name: api_monitor <name> { ... }")
	}
	m.Route = d.Val()
	if !routeName.MatchString(m.Route) {
		return d.Errf("api_monitor: route name %q: want 1 to 64 letters, digits, '.', '_' or '-'", m.Route)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_monitor", func(name string) error {
		var err error
		switch name {
		case "window":
			if m.Window, err = gateway.ParseDuration(d); err == nil && m.Window < caddy.Duration(MinWindow) {
				err = d.Errf("api_monitor: window %s: want at least %s", d.Val(), MinWindow)
			}
		case "error_rate":
			m.ErrorRate, err = parseErrorRate(d)
		case "latency":
			err = m.parseLatency(d)
		case "min_requests":
			m.MinRequests, err = parseCount(d)
		default:
			err = gateway.Unknown(d, "api_monitor", name)
		}
		return err
	})
}

// parseErrorRate reads `<percent>%`, above 0% and at most 100%, as a share.
func parseErrorRate(d *caddyfile.Dispenser) (float64, error) {
	s, err := gateway.OneArg(d)
	if err != nil {
		return 0, err
	}
	p, ok := ParsePercent(s)
	if !ok {
		return 0, d.Errf("api_monitor: error_rate %q: want a percentage above 0%% and at most 100%%, such as 5%% or 0.5%%", s)
	}
	return p / 100, nil
}

// ParsePercent parses "5%" or "0.5%" into 5 or 0.5: above 0 and at most 100.
func ParsePercent(s string) (float64, bool) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || !(p > 0 && p <= 100) {
		return 0, false
	}
	return p, true
}

// ParsePercentile parses "p99" or "p99.9" into 99 or 99.9: above 0, below 100.
func ParsePercentile(s string) (float64, bool) {
	num, ok := strings.CutPrefix(s, "p")
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || !(p > 0 && p < 100) {
		return 0, false
	}
	return p, true
}

// parseLatency reads `p<NN> <duration>`.
func (m *Monitor) parseLatency(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("api_monitor: latency: want a percentile and a duration, such as latency p99 800ms")
	}
	p, ok := ParsePercentile(args[0])
	if !ok {
		return d.Errf("api_monitor: latency percentile %q: want p followed by a number above 0 and below 100, such as p50, p99 or p99.9", args[0])
	}
	dur, err := caddy.ParseDuration(args[1])
	if err != nil || dur <= 0 {
		return d.Errf("api_monitor: latency %q: want a positive duration, such as 800ms or 2s", args[1])
	}
	m.LatencyPercentile, m.Latency = p, caddy.Duration(dur)
	return nil
}

// parseCount reads a positive whole number.
func parseCount(d *caddyfile.Dispenser) (int, error) {
	s, err := gateway.OneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, d.Errf("api_monitor: min_requests %q: want a whole number of at least 1", s)
	}
	return n, nil
}

var _ caddyfile.Unmarshaler = (*Monitor)(nil)
