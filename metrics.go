package apigate

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The shared collectors live in internal/gateway; these names are the
// transition's, until every handler has moved to its capability folder.
var (
	metricsOnce     sync.Once
	decisions       = gateway.Decisions
	keyEvents       = gateway.KeyEvents
	handlerDuration = gateway.HandlerDuration
)

func buildMetrics() {}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	return gateway.RegisterMetrics(ctx, collectors...)
}

// api_cache collectors, built once like decisions.
var (
	cacheMetricsOnce sync.Once

	cacheHits, cacheMisses, cacheCollapsed       prometheus.Counter
	cacheStored, cacheEvictions, cacheRejections prometheus.Counter
	cacheInvalidations                           prometheus.Counter
	cacheRequests                                *prometheus.CounterVec
	cacheByMethod, cacheBypassed                 prometheus.Counter
	cacheWaitTimeouts, cacheMismatches           prometheus.Counter
	cacheLateIdentity                            prometheus.Counter
	cacheBytes                                   prometheus.GaugeFunc
)

func buildCacheMetrics() {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "apigate", Name: name, Help: help})
	}
	cacheHits = counter("cache_hits_total", "Requests api_cache answered from memory.")
	cacheMisses = counter("cache_misses_total", "GET and HEAD requests api_cache could not answer from memory.")
	cacheCollapsed = counter("cache_collapsed_total", "Misses answered with the response another concurrent miss fetched.")
	cacheStored = counter("cache_stored_total", "Responses api_cache stored.")
	cacheEvictions = counter("cache_evictions_total", "Stored responses evicted for room or expired.")
	cacheRejections = counter("cache_rejections_total", "Responses the cache's admission policy (TinyLFU) refused to store.")
	cacheInvalidations = counter("cache_invalidations_total", "Invalidations by unsafe methods and purges.")
	cacheRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "cache_requests_total",
		Help: "Requests api_cache forwarded without a lookup or did not store, by reason (method, bypass, wait_timeout, partition_mismatch, identity_after_cache).",
	}, []string{"reason"})
	cacheByMethod = cacheRequests.WithLabelValues("method")
	cacheBypassed = cacheRequests.WithLabelValues("bypass")
	cacheWaitTimeouts = cacheRequests.WithLabelValues("wait_timeout")
	cacheMismatches = cacheRequests.WithLabelValues("partition_mismatch")
	cacheLateIdentity = cacheRequests.WithLabelValues("identity_after_cache")
	cacheBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "cache_bytes",
		Help: "Bytes of the responses api_cache holds, over every store.",
	}, func() float64 {
		var n int64
		cachePool.Range(func(_, v any) bool {
			n += v.(*cacheStore).Used()
			return true
		})
		return float64(n)
	})
}

// cacheCollectors returns the api_cache collectors, building them once.
func cacheCollectors() []prometheus.Collector {
	cacheMetricsOnce.Do(buildCacheMetrics)
	return []prometheus.Collector{cacheHits, cacheMisses, cacheCollapsed, cacheStored, cacheEvictions, cacheRejections, cacheInvalidations, cacheRequests, cacheBytes}
}

// Collectors of api_rate_limit (and of the lockout's shared backend).
var (
	rateLimitMetricsOnce sync.Once

	// rateLimitRejected counts the requests api_rate_limit rejected, by zone
	// (a configured name, never a key).
	rateLimitRejected *prometheus.CounterVec
	// rateLimitBackendErrors counts the failed calls to the shared backend.
	rateLimitBackendErrors prometheus.Counter
)

func rateLimitCollectors() []prometheus.Collector {
	rateLimitMetricsOnce.Do(func() {
		rateLimitRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "rate_limit_rejected_total",
			Help: "Requests api_rate_limit rejected, by zone.",
		}, []string{"zone"})
		rateLimitBackendErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "rate_limit_backend_errors_total",
			Help: "Failed calls to the shared rate limit backend (Redis).",
		})
	})
	return []prometheus.Collector{rateLimitRejected, rateLimitBackendErrors}
}
