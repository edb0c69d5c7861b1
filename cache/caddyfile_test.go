package cache

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCacheCaddyfile(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: `api_cache`, want: `{}`},
		{in: `api_cache {
			ttl 30s
			max_size 256MB
			max_item 1MiB
			share public
			wait 2s
		}`, want: `{"ttl":30000000000,"max_size":256000000,"max_item":1048576,"share":"public","wait":2000000000}`},
		{in: "api_cache {\n\tttl 30s\n\tttl 40s\n}", err: `api_cache: duplicate subdirective "ttl", at Testfile:3`},
		{in: "api_cache {\n\tsize 1MB\n}", err: `api_cache: unrecognized subdirective "size", at Testfile:2`},
		{in: "api_cache {\n\tshare everyone\n}", err: `share "everyone"`},
		{in: "api_cache {\n\tmax_size lots\n}", err: `invalid size "lots": want a number of bytes`},
		{in: "api_cache {\n\tmax_size 0\n}", err: `api_cache: max_size 0: give at least one byte, or leave max_size out for the default, at Testfile:2`},
		{in: "api_cache {\n\tshare\n}", err: `wrong argument count`},
		{in: "api_cache {\n\tshare public private\n}", err: `wrong argument count`},
		{in: "api_cache {\n\tttl -5s\n}", err: `must not be negative`},
		{in: "api_cache {\n\tttl soon\n}", err: `invalid duration`},
		{in: "api_cache {\n\tttl 1s 2s\n}", err: `wrong argument count`},
		// Meaning is Validate's (TestCacheConfigErrors): the grammar takes it.
		{in: "api_cache {\n\tmax_size 1KB\n\tmax_item 1MB\n}", want: `{"max_size":1000,"max_item":1000000}`},
		{in: `api_cache extra`, err: `wrong argument count`},
	}
	for _, tt := range tests {
		var c Cache
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got, _ := json.Marshal(c); string(got) != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, got, tt.want)
		}
	}
}
