package cache

import (
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCacheCaddyfile(t *testing.T) {
	tests := []gatewaytest.CaddyfileCase{
		{In: `api_cache`, Want: `{}`},
		{In: `api_cache {
			ttl 30s
			max_size 256MB
			max_item 1MiB
			share public
			wait 2s
		}`, Want: `{"ttl":30000000000,"max_size":256000000,"max_item":1048576,"share":"public","wait":2000000000}`},
		{In: "api_cache {\n\tttl 30s\n\tttl 40s\n}", Err: `api_cache: duplicate subdirective "ttl", at Testfile:3`},
		{In: "api_cache {\n\tsize 1MB\n}", Err: `api_cache: unrecognized subdirective "size", at Testfile:2`},
		{In: "api_cache {\n\tshare everyone\n}", Err: `share "everyone"`},
		{In: "api_cache {\n\tmax_size lots\n}", Err: `invalid size "lots": want a number of bytes`},
		{In: "api_cache {\n\tmax_size 0\n}", Err: `api_cache: max_size 0: give at least one byte, or leave max_size out for the default, at Testfile:2`},
		{In: "api_cache {\n\tshare\n}", Err: `wrong argument count`},
		{In: "api_cache {\n\tshare public private\n}", Err: `wrong argument count`},
		{In: "api_cache {\n\tttl -5s\n}", Err: `must not be negative`},
		{In: "api_cache {\n\tttl soon\n}", Err: `invalid duration`},
		{In: "api_cache {\n\tttl 1s 2s\n}", Err: `wrong argument count`},
		// Meaning is Validate's (TestCacheConfigErrors): the grammar takes it.
		{In: "api_cache {\n\tmax_size 1KB\n\tmax_item 1MB\n}", Want: `{"max_size":1000,"max_item":1000000}`},
		{In: `api_cache extra`, Err: `wrong argument count`},
	}
	gatewaytest.CaddyfileTable(t, tests, func() caddyfile.Unmarshaler { return new(Cache) })
}
