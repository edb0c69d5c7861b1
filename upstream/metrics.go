package upstream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The api_upstream_auth collectors, built once with the process and
// registered on every Provision. Token requests themselves are counted in
// idp_requests_total{kind="token_exchange"|"client_credentials"}. No label
// holds a token, a subject or a client id.
var (
	upstreamTokens = gateway.NewCounterVec("upstream_tokens_total",
		"Token lookups of api_upstream_auth, by result: hit (cached), miss (the request waited for a token request, its own or a concurrent miss's).",
		"result")
	tokenHits   = upstreamTokens.WithLabelValues("hit")
	tokenMisses = upstreamTokens.WithLabelValues("miss")

	collectors = []prometheus.Collector{upstreamTokens}
)
