package cache

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	api_cache [<matcher>] {
//		ttl      <duration>   # when the upstream gives no freshness; default 0 (none)
//		max_size <size>       # e.g. 256MB (default 256MiB)
//		max_item <size>       # e.g. 1MB (default 1MiB)
//		share    public       # `Cache-Control: public` responses may be shared
//		wait     <duration>   # concurrent misses wait this long for the first; default 10s
//	}
//
// Sizes take units as Caddy's request_body does (KB, MB, GB are powers of
// 1000; KiB, MiB, GiB powers of 1024).
func (c *Cache) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return gateway.Block(d, "api_cache", func(name string) error {
		var err error
		switch name {
		case "ttl":
			c.TTL, err = gateway.ParseDuration(d)
		case "wait":
			c.Wait, err = gateway.ParseDuration(d)
		case "max_size":
			c.MaxSize, err = parseSize(d, name)
		case "max_item":
			c.MaxItem, err = parseSize(d, name)
		case "share":
			var v string
			if v, err = gateway.OneArg(d); err == nil && v != sharePublic {
				err = d.Errf("%v", shareError(v))
			}
			c.Share = v
		default:
			err = gateway.Unknown(d, "api_cache", name)
		}
		return err
	})
}

// parseSize reads the size of max_size or max_item: 0 is not a size a
// Caddyfile means (the JSON's 0 is the default; leave the line out for it).
func parseSize(d *caddyfile.Dispenser, name string) (int64, error) {
	n, err := gateway.ParseSize(d)
	if err == nil && n == 0 {
		err = d.Errf("api_cache: %s 0: give at least one byte, or leave %s out for the default", name, name)
	}
	return n, err
}

var _ caddyfile.Unmarshaler = (*Cache)(nil)
