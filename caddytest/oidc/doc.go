// Package oidc holds the integration tests of api_upstream_auth against a
// real OpenID provider that no one here wrote: zitadel/oidc's op package with
// its example in-memory storage, which implements token exchange (RFC 8693),
// client credentials and token introspection. It is a module of its own so
// that the plugin's go.mod does not carry zitadel: its tests build the
// gateway from the plugin's own module (../../cmd/caddy) and run it as a
// process, as caddytest does.
package oidc
