package limiter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestRateLimitCaddyfile(t *testing.T) {
	good := []struct {
		in   string
		want string
	}{
		{`api_rate_limit 100/1m`, `{"zones":[{"name":"default","id":"Testfile:1","requests":100,"window":60000000000}]}`},
		{"\n\napi_rate_limit 10/s 3", `{"zones":[{"name":"default","id":"Testfile:3","requests":10,"window":1000000000,"burst":3}]}`},
		{`api_rate_limit {
			zone per_consumer {
				key {http.auth.user.id}
				rate 100/1m
				burst 20
				tier gold 1000/1m
				tier silver 300/1m 50
			}
			zone per_ip {
				key {http.vars.client_ip}
				rate 5/s
			}
			backend redis
			on_backend_error deny
			max_keys 1000
			mode report
		}`, `{"zones":[{"name":"per_consumer","key":"{http.auth.user.id}","requests":100,"window":60000000000,"burst":20,"tiers":[{"name":"gold","requests":1000,"window":60000000000},{"name":"silver","requests":300,"window":60000000000,"burst":50}]},{"name":"per_ip","key":"{http.vars.client_ip}","requests":5,"window":1000000000}],"backend":"redis","on_backend_error":"deny","max_keys":1000,"mode":"report"}`},
		{`api_rate_limit 100/1m {
			backend redis
			mode enforce
		}`, `{"zones":[{"name":"default","id":"Testfile:1","requests":100,"window":60000000000}],"backend":"redis","mode":"enforce"}`},
		{`api_rate_limit 100/1m {
			backend redis
			sync lease 20ms
		}`, `{"zones":[{"name":"default","id":"Testfile:1","requests":100,"window":60000000000}],"backend":"redis","sync":"lease","lease_time":20000000}`},
		{`api_rate_limit 100/1m {
			backend redis
			sync exact
		}`, `{"zones":[{"name":"default","id":"Testfile:1","requests":100,"window":60000000000}],"backend":"redis","sync":"exact"}`},
	}
	for _, tt := range good {
		rl := new(RateLimit)
		if err := rl.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got, _ := json.Marshal(rl)
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.in, got, tt.want)
		}
		if err := rl.Validate(); err != nil {
			t.Errorf("%s: %v", tt.in, err)
		}
	}
	z := "\tzone a {\n\t\trate 1/s\n\t}\n"
	// Syntax and arguments: UnmarshalCaddyfile refuses them, naming the line.
	bad := map[string]string{
		"api_rate_limit":            "want a rate",
		"api_rate_limit 100":        "requests/window",
		"api_rate_limit 0/1m":       "between 1",
		"api_rate_limit 100/1m 0":   "burst \"0\" must be a whole number",
		"api_rate_limit 100/1m 5 6": "wrong argument count",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\trate 2/s\n\t}\n}":         "duplicate subdirective",
		"api_rate_limit {\n\tzone \"a b\" {\n\t\trate 1/s\n\t}\n}":                 "zone name",
		"api_rate_limit {\n\tzone {\n\t\trate 1/s\n\t}\n}":                         "wrong argument count",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold\n\t}\n}":        "want tier",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold 1/s 0\n\t}\n}":  "burst",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier \"a b\" 1/s\n\t}\n}": "tier name",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\tcolour red\n\t}\n}":       "unrecognized",
		"api_rate_limit {\n" + z + "\tbackend postgres\n}":                         "memory or redis",
		"api_rate_limit {\n" + z + "\ton_backend_error panic\n}":                   "local, allow or deny",
		"api_rate_limit {\n" + z + "\tmax_keys -1\n}":                              "max_keys",
		"api_rate_limit {\n" + z + "\tmode shadow\n}":                              "want enforce or report",
		"api_rate_limit {\n" + z + "\tmode\n}":                                     "wrong argument count",
		"api_rate_limit {\n" + z + "\tbackend redis\n\tbackend memory\n}":          "duplicate subdirective",
		"api_rate_limit {\n" + z + "\tsync\n}":                                     "want sync lease",
		"api_rate_limit {\n" + z + "\tsync eventually\n}":                          "want sync lease",
		"api_rate_limit {\n" + z + "\tsync exact 5ms\n}":                           "want sync lease",
		"api_rate_limit {\n" + z + "\tsync lease 2m\n}":                            "up to 1m",
		"api_rate_limit {\n" + z + "\tsync lease soon\n}":                          "up to 1m",
		"api_rate_limit {\n\tfrobnicate\n}":                                        "unrecognized",
	}
	for in, want := range bad {
		err := new(RateLimit).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		} else if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%s: error %q does not name the line", in, err)
		}
	}
	// Meaning: what parses but relates arguments wrongly is Validate's, in the
	// words the JSON config gets.
	invalid := map[string]string{
		"api_rate_limit {\n" + z + z + "}":                                                         `api_rate_limit: zone "a" is configured twice`,
		"api_rate_limit 1/s {\n\tzone default {\n\t\trate 1/s\n\t}\n}":                             `api_rate_limit: zone "default" is configured twice`,
		"api_rate_limit {\n\tzone a {\n\t\tkey x\n\t}\n}":                                          "api_rate_limit: zone a: rate is required",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold 1/s\n\t\ttier gold 2/s\n\t}\n}": `api_rate_limit: zone a: tier "gold" is configured twice`,
		"api_rate_limit 10/s 2000000000":                                                           "api_rate_limit: zone default: burst must be between 1 and 1000000000",
	}
	for in, want := range invalid {
		rl := new(RateLimit)
		if err := rl.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if err := rl.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: Validate: %v, want %q", in, err, want)
		}
	}
}

// TestShorthandInSnippetIsOwnedPerImport: one snippet with a shorthand,
// imported in two sites (two routes), gives two zone IDs, which name the
// imports: each route counts on its own, as two shorthands written out do.
func TestShorthandInSnippetIsOwnedPerImport(t *testing.T) {
	src := "(limits) {\n\tapi_rate_limit 2/1h\n}\n\n:8080 {\n\timport limits\n}\n\n:8081 {\n\timport limits\n}\n"
	blocks, err := caddyfile.Parse("/etc/caddy/Caddyfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range blocks {
		if len(b.Segments) == 0 {
			continue // the snippet's definition
		}
		var rl RateLimit
		if err := rl.UnmarshalCaddyfile(caddyfile.NewDispenser(b.Segments[0])); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rl.Zones[0].ID)
	}
	want := []string{"Caddyfile:2 (import Caddyfile:6)", "Caddyfile:2 (import Caddyfile:10)"}
	if len(ids) != 2 || ids[0] != want[0] || ids[1] != want[1] {
		t.Fatalf("zone ids %q, want %q", ids, want)
	}
}

// FuzzRateLimitCaddyfile: any Caddyfile text parses or fails with an error;
// what parses provisions, and what validates serves a request.
func FuzzRateLimitCaddyfile(f *testing.F) {
	for _, s := range []string{
		"api_rate_limit 100/1m",
		"api_rate_limit 10/s 5",
		"api_rate_limit {\nzone a {\nkey {http.auth.user.id}\nrate 1/s\nburst 2\ntier gold 5/s 9\n}\nbackend redis\non_backend_error allow\nmax_keys 10\n}",
		"api_rate_limit { zone a { rate 1/s } zone a { rate 1/s } }",
		"api_rate_limit 1/1d {\n}",
		"api_rate_limit 5/1m {\nmode report\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tokens, err := caddyfile.Tokenize([]byte(in), "Caddyfile")
		if err != nil {
			return // the Caddyfile lexer refuses it before any directive sees it
		}
		rl := new(RateLimit)
		if err := rl.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		rl.Backend = backendMemory // no Redis here
		if err := rl.Validate(); err != nil {
			return
		}
		clock := rlT0
		testRateLimit(t, rl, &clock)
		serve(t, rl, caller{ip: "192.0.2.1"})
	})
}
