package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestParsers(t *testing.T) {
	tests := []struct {
		input   string
		parse   func(d *caddyfile.Dispenser) (any, error)
		want    any
		wantErr string
	}{
		{"x 30s", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseDuration(d); return int64(v), err }, int64(30e9), ""},
		{"x 7d", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseDuration(d); return int64(v), err }, int64(7 * 24 * 3600e9), ""},
		{"x soon", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseDuration(d); return int64(v), err }, nil, `invalid duration "soon": want a number with a unit`},
		{"x -1s", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseDuration(d); return int64(v), err }, nil, "must not be negative"},
		{"x 1s 2s", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseDuration(d); return int64(v), err }, nil, "wrong argument count"},
		{"x 1MB", func(d *caddyfile.Dispenser) (any, error) { return ParseSize(d) }, int64(1000000), ""},
		{"x 1MiB", func(d *caddyfile.Dispenser) (any, error) { return ParseSize(d) }, int64(1 << 20), ""},
		{"x lots", func(d *caddyfile.Dispenser) (any, error) { return ParseSize(d) }, nil, `invalid size "lots": want a number of bytes`},
		{"x", func(d *caddyfile.Dispenser) (any, error) { return ParseSize(d) }, nil, "wrong argument count"},
		{"x orders:read,orders:write", func(d *caddyfile.Dispenser) (any, error) { return ParseScopes(d) }, nil, "contains a comma: list scopes separated by spaces (orders:read orders:write)"},
		{"x a,b,", func(d *caddyfile.Dispenser) (any, error) { return ParseScopes(d) }, nil, `scope "a,b," contains a comma: list scopes separated by spaces (a b)`},
		{"x scope=orders:read", func(d *caddyfile.Dispenser) (any, error) { return ParseScopes(d) }, nil, "contains '=': write the scope alone (orders:read), not scope=orders:read"},
		{"x scopes=admin", func(d *caddyfile.Dispenser) (any, error) { return ParseScopes(d) }, nil, `scope "scopes=admin" contains '=': write the scope alone (admin), not scopes=admin`},
		{"x report", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseMode(d); return string(v), err }, "report", ""},
		{"x enforce", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseMode(d); return string(v), err }, "enforce", ""},
		{"x shadow", func(d *caddyfile.Dispenser) (any, error) { return ParseMode(d) }, nil, `mode "shadow": want enforce or report`},
		{`x ""`, func(d *caddyfile.Dispenser) (any, error) { return ParseMode(d) }, nil, `want enforce or report`},
		{"x", func(d *caddyfile.Dispenser) (any, error) { return ParseMode(d) }, nil, "wrong argument count"},
		{"x 10.0.0.0/8 ::1", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseIPs(d); return strings.Join(v, "|"), err }, "10.0.0.0/8|::1", ""},
		{"x 10.0.0.0/33", func(d *caddyfile.Dispenser) (any, error) { return ParseIPs(d) }, nil, `ip "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{"x", func(d *caddyfile.Dispenser) (any, error) { return ParseIPs(d) }, nil, "wrong argument count"},
		{"x a b", func(d *caddyfile.Dispenser) (any, error) { v, err := ParseScopes(d); return strings.Join(v, "|"), err }, "a|b", ""},
	}
	for _, tt := range tests {
		d := caddyfile.NewTestDispenser(tt.input)
		d.Next()
		got, err := tt.parse(d)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.input, err, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time:")) {
				t.Errorf("%q: error shows Go internals: %v", tt.input, err)
			}
			if err != nil && !strings.Contains(err.Error(), "Testfile:1") {
				t.Errorf("%q: error does not name the line: %v", tt.input, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.input, got, err, tt.want)
		}
	}
}

func TestBlock(t *testing.T) {
	d := caddyfile.NewTestDispenser("x {\n a 1\n b 2\n a 3\n}")
	d.Next()
	var names []string
	err := Block(d, "x", func(name string) error {
		names = append(names, name)
		d.RemainingArgs()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), `x: duplicate subdirective "a"`) || !strings.Contains(err.Error(), ":4") {
		t.Errorf("duplicate: %v", err)
	}
	d = caddyfile.NewTestDispenser("x {\n a 1\n a 3\n c\n}")
	d.Next()
	err = Block(d, "x", func(name string) error {
		d.RemainingArgs()
		if name == "c" {
			return Unknown(d, "x", name)
		}
		return nil
	}, "a")
	if err == nil || !strings.Contains(err.Error(), `x: unrecognized subdirective "c"`) {
		t.Errorf("repeatable and unknown: %v", err)
	}
}

func TestParseRateAndCount(t *testing.T) {
	for _, tt := range []struct {
		input  string
		n      int
		window time.Duration
		err    string
	}{
		{"x 10/1m", 10, time.Minute, ""},
		{"x 5/m", 5, time.Minute, ""},
		{"x 1/2d", 1, 48 * time.Hour, ""},
		{"x 10", 0, 0, `invalid rate "10"`},
		{"x 0/1m", 0, 0, "invalid rate"},
		{"x +3/1m", 0, 0, "invalid rate"},
		{"x 3/-1m", 0, 0, "invalid rate"},
		{"x 3/soon", 0, 0, "invalid rate"},
		{"x", 0, 0, "wrong argument count"},
	} {
		d := caddyfile.NewTestDispenser(tt.input)
		d.Next()
		n, w, err := ParseRate(d)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "Testfile:1") {
				t.Errorf("%q: error %v, want one containing %q and the line", tt.input, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.n || w != tt.window {
			t.Errorf("%q: %d %s %v", tt.input, n, w, err)
		}
	}
	for input, want := range map[string]int{"x 0": 0, "x 10000": 10000, "x -1": -1, "x +1": -1, "x many": -1, "x 1 2": -1} {
		d := caddyfile.NewTestDispenser(input)
		d.Next()
		n, err := ParseCount(d)
		if (want < 0) != (err != nil) || want >= 0 && n != want {
			t.Errorf("%q: %d %v", input, n, err)
		}
	}
}
