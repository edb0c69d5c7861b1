package cache

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The api_cache collectors, built once with the process and registered with
// Caddy's metrics registry on every Provision (gateway.RegisterMetrics), so
// they survive config reloads.
var (
	cacheHits          = gateway.NewCounter("cache_hits_total", "Requests api_cache answered from memory.")
	cacheMisses        = gateway.NewCounter("cache_misses_total", "GET and HEAD requests api_cache could not answer from memory.")
	cacheCollapsed     = gateway.NewCounter("cache_collapsed_total", "Misses answered with the response another concurrent miss fetched.")
	cacheStored        = gateway.NewCounter("cache_stored_total", "Responses api_cache stored.")
	cacheEvictions     = gateway.NewCounter("cache_evictions_total", "Stored responses evicted for room or expired.")
	cacheRejections    = gateway.NewCounter("cache_rejections_total", "Responses the cache's admission policy (TinyLFU) refused to store.")
	cacheInvalidations = gateway.NewCounter("cache_invalidations_total", "Invalidations by unsafe methods and purges.")

	cacheRequests = gateway.NewCounterVec("cache_requests_total",
		"Requests api_cache forwarded without a lookup or did not store, by reason (method, bypass, wait_timeout, partition_mismatch, identity_after_cache).",
		"reason")
	cacheByMethod     = cacheRequests.WithLabelValues("method")
	cacheBypassed     = cacheRequests.WithLabelValues("bypass")
	cacheWaitTimeouts = cacheRequests.WithLabelValues("wait_timeout")
	cacheMismatches   = cacheRequests.WithLabelValues("partition_mismatch")
	cacheLateIdentity = cacheRequests.WithLabelValues("identity_after_cache")

	cacheBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "cache_bytes",
		Help: "Bytes of the responses api_cache holds, over every store.",
	}, storedBytes)

	collectors = []prometheus.Collector{cacheHits, cacheMisses, cacheCollapsed, cacheStored, cacheEvictions,
		cacheRejections, cacheInvalidations, cacheRequests, cacheBytes}
)

// storedBytes is the memory the stores hold.
func storedBytes() float64 {
	var n int64
	stores.Range(func(_, v any) bool {
		n += v.(*pooledStore).Used()
		return true
	})
	return float64(n)
}
