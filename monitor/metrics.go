package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The api_monitor collectors, built once with the process and registered with
// Caddy's metrics registry on every Provision. Their label values are route
// names from the config, looked up at provision.
var (
	routeRequests = gateway.NewCounterVec("route_requests_total",
		"Requests of the routes api_monitor watches, by route and class (2xx, 3xx, 4xx, 5xx, error: no answer from the upstream).",
		"route", "class")

	routeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "route_duration_seconds",
		Help:    "Duration of the requests of the routes api_monitor watches, by route.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, .8, 1, 2.5, 5, 10},
	}, []string{"route"})

	collectors = []prometheus.Collector{routeRequests, routeDuration}
)
