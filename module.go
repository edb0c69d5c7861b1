// Package apigate is a Caddy v2 plugin that turns Caddy into a secure API access
// gateway.
//
// This root package registers the modules and the directive order (this file),
// parses the api_gateway global option and hands each directive's tokens to
// its capability (caddyfile.go), and holds the api_gateway app (key store,
// Redis, notifier, signer), its admin API routes and the CLI. Each capability
// lives in its own folder (authn, authz, limiter, inspect, cache, monitor,
// upstream) and meets the others only in internal/gateway; none imports this
// package.
package apigate

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/inspect"
	"github.com/apigate/caddy-apigate/limiter"
	"github.com/apigate/caddy-apigate/monitor"
	"github.com/apigate/caddy-apigate/openapi"
	"github.com/apigate/caddy-apigate/upstream"
)

func init() {
	caddy.RegisterModule(App{})
	caddy.RegisterModule(authn.Auth{})
	caddy.RegisterModule(authn.APIKeyMethod{})
	caddy.RegisterModule(authn.JWTMethod{})
	caddy.RegisterModule(authn.IntrospectMethod{})
	caddy.RegisterModule(authn.ClientCertMethod{})
	caddy.RegisterModule(authn.JWKSHandler{})
	caddy.RegisterModule(authz.Authorize{})
	caddy.RegisterModule(authz.MatchScope{})
	caddy.RegisterModule(authn.KeyRotate{})
	caddy.RegisterModule(authn.KeyLeak{})
	caddy.RegisterModule(adminAPI{})
	caddy.RegisterModule(cache.Cache{})
	caddy.RegisterModule(limiter.RateLimit{})
	caddy.RegisterModule(inspect.Inspect{})
	caddy.RegisterModule(monitor.Monitor{})
	caddy.RegisterModule(upstream.UpstreamAuth{})
	caddy.RegisterModule(openapi.OpenAPI{})

	httpcaddyfile.RegisterGlobalOption("api_gateway", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("api_auth", parseAuth)
	httpcaddyfile.RegisterHandlerDirective("api_authorize", parseAuthorize)
	httpcaddyfile.RegisterHandlerDirective("api_rate_limit", parseRateLimit)
	httpcaddyfile.RegisterHandlerDirective("api_key_rotate", parseKeyRotate)
	httpcaddyfile.RegisterHandlerDirective("api_key_leak", parseKeyLeak)
	httpcaddyfile.RegisterHandlerDirective("api_jwks", parseJWKS)
	httpcaddyfile.RegisterHandlerDirective("api_cache", parseCache)
	httpcaddyfile.RegisterHandlerDirective("api_inspect", parseInspect)
	httpcaddyfile.RegisterHandlerDirective("api_monitor", parseMonitor)
	httpcaddyfile.RegisterHandlerDirective("api_upstream_auth", parseUpstreamAuth)
	httpcaddyfile.RegisterHandlerDirective("api_openapi", parseOpenAPI)

	// Handler order: api_monitor, api_inspect, api_auth, api_openapi, api_authorize, api_rate_limit,
	// api_cache, api_upstream_auth, all before basic_auth. Each registration goes right before
	// basic_auth, after the ones registered earlier, so the order here is the
	// order of the handlers.
	httpcaddyfile.RegisterDirectiveOrder("api_monitor", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_inspect", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_openapi", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_authorize", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_rate_limit", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_cache", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_upstream_auth", httpcaddyfile.Before, "basic_auth")

	// api_key_rotate, api_key_leak and api_jwks answer by themselves, like respond: users put
	// them in their own handle or route. Ordering them with the terminal
	// handlers lets them stand in a handle block.
	httpcaddyfile.RegisterDirectiveOrder("api_key_rotate", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("api_key_leak", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("api_jwks", httpcaddyfile.Before, "respond")
}
