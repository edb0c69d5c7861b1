package apigate

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/limiter"
)

// The shared collectors live in internal/gateway; these names are the
// transition's, until every handler has moved to its capability folder.
var (
	metricsOnce     sync.Once
	decisions       = gateway.Decisions
	keyEvents       = gateway.KeyEvents
	idpRequests     = gateway.IdPRequests
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

// The collector of the lockout of api_auth.
var (
	authLockoutMetricsOnce sync.Once

	// authLockouts counts the client addresses api_auth locked out.
	authLockouts prometheus.Counter
)

func authLockoutCollectors() []prometheus.Collector {
	authLockoutMetricsOnce.Do(func() {
		authLockouts = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "auth_lockouts_total",
			Help: "Client addresses api_auth locked out after failed authentications.",
		})
	})
	return []prometheus.Collector{authLockouts, limiter.BackendErrors}
}
