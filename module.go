// Package apigate is a Caddy v2 plugin that turns Caddy into a secure API access
// gateway: API keys with scopes, rotation and expiry, managed through Caddy's admin
// API and the `caddy api-key` command.
//
// This root package is the thin Caddy adapter: module structs, provisioning,
// Caddyfile parsing, placeholders and error answers. The logic lives in plain Go
// packages (keystore, authn) that do not import it.
package apigate

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/openapi"
)

func init() {
	caddy.RegisterModule(App{})
	caddy.RegisterModule(Auth{})
	caddy.RegisterModule(APIKeyMethod{})
	caddy.RegisterModule(JWTMethod{})
	caddy.RegisterModule(IntrospectMethod{})
	caddy.RegisterModule(ClientCertMethod{})
	caddy.RegisterModule(JWKSHandler{})
	caddy.RegisterModule(authz.Authorize{})
	caddy.RegisterModule(authz.MatchScope{})
	caddy.RegisterModule(KeyRotate{})
	caddy.RegisterModule(adminAPI{})
	caddy.RegisterModule(cache.Cache{})
	caddy.RegisterModule(RateLimit{})
	caddy.RegisterModule(Inspect{})
	caddy.RegisterModule(openapi.OpenAPI{})

	httpcaddyfile.RegisterGlobalOption("api_gateway", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("api_auth", parseAuth)
	httpcaddyfile.RegisterHandlerDirective("api_authorize", parseAuthorize)
	httpcaddyfile.RegisterHandlerDirective("api_rate_limit", parseRateLimit)
	httpcaddyfile.RegisterHandlerDirective("api_key_rotate", parseKeyRotate)
	httpcaddyfile.RegisterHandlerDirective("api_jwks", parseJWKS)
	httpcaddyfile.RegisterHandlerDirective("api_cache", parseCache)
	httpcaddyfile.RegisterHandlerDirective("api_inspect", parseInspect)
	httpcaddyfile.RegisterHandlerDirective("api_openapi", parseOpenAPI)

	// Handler order: api_inspect, api_auth, api_openapi, api_authorize, api_rate_limit,
	// api_cache, all before basic_auth. Each registration goes right before
	// basic_auth, after the ones registered earlier, so the order here is the
	// order of the handlers.
	httpcaddyfile.RegisterDirectiveOrder("api_inspect", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_openapi", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_authorize", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_rate_limit", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("api_cache", httpcaddyfile.Before, "basic_auth")

	// api_key_rotate and api_jwks answer by themselves, like respond: users put
	// them in their own handle or route. Ordering them with the terminal
	// handlers lets them stand in a handle block.
	httpcaddyfile.RegisterDirectiveOrder("api_key_rotate", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("api_jwks", httpcaddyfile.Before, "respond")
}
