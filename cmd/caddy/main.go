// Command caddy is Caddy's standard main with Caddy's standard modules and the
// caddy-apigate plugin. The demo, the integration tests and the benchmark build it
// with plain `go build ./cmd/caddy`; operators build the same thing with
// `xcaddy build --with github.com/apigate/caddy-apigate`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/apigate/caddy-apigate"
)

func main() {
	caddycmd.Main()
}
