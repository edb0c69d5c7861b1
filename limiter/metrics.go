package limiter

import "github.com/apigate/caddy-apigate/internal/gateway"

// The collectors of api_rate_limit, built once with the process and
// registered on every Provision (gateway.RegisterMetrics), so they survive
// config reloads. Refusals are also counted, with every handler's, in
// gateway.Decisions and gateway.Rejections.
var (
	// rejectedByZone counts the requests api_rate_limit rejected, by zone (a
	// configured name, never a key).
	rejectedByZone = gateway.NewCounterVec("rate_limit_rejected_total", "Requests api_rate_limit rejected, by zone.", "zone")

	// BackendErrors counts the failed calls to the shared backend (Redis) of
	// the rate limits and of the lockout of api_auth.
	BackendErrors = gateway.NewCounter("rate_limit_backend_errors_total", "Failed calls to the shared rate limit backend (Redis).")

	// backendCalls counts the calls api_rate_limit makes to Redis, by zone
	// and call: take (a lease, or one request on the exact path) and
	// give_back (unspent leases returned when a config is replaced).
	backendCalls = gateway.NewCounterVec("rate_limit_backend_calls_total", "Calls api_rate_limit made to its shared backend (Redis), by zone and call (take, give_back).", "zone", "call")
)
