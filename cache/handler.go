package cache

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Cache is the api_cache handler: it answers repeated GET and HEAD requests
// from the gateway's memory, following RFC 9111 for a shared cache, and never
// serves one caller's response to another.
//
// The key of a stored response holds the method class, host, path, normalised
// query (parameters sorted by name), the values of the headers its Vary
// names, and always the caller: the identity api_auth established (its method,
// consumer and scopes), or, without one, the anonymous partition shared by
// every unauthenticated caller. Responses marked `Cache-Control: public` are
// stored in a partition every consumer reads only when Share is "public".
// Every hit checks the stored partition again. The caller is whoever api_auth
// identified before the cache ran, wherever the handlers sit: a request with
// no identity that carries a credential (gateway.CarriesCredential, a cookie)
// bypasses the cache, and a response for which an api_auth after the cache
// identified the caller is never stored.
//
// Stored: answers to GET with status 200, 203 or 204 (and 300, 301, 308, 404,
// 410 with an explicit freshness), at most MaxItem bytes with a
// Content-Length, without no-store, private, no-cache, Set-Cookie or Vary: *.
// Freshness comes from s-maxage, max-age or Expires; TTL only when none is
// given. HEAD is answered from a stored GET. POST, PUT, PATCH, DELETE (any
// method but GET, HEAD, OPTIONS, TRACE) make every stored response of their
// path stale. Concurrent misses for one key make one upstream request; the
// others wait for it, at most Wait, then go upstream themselves.
//
// Every response carries Cache-Status (RFC 9211), e.g. `apigate; hit; ttl=25`
// or `apigate; fwd=uri-miss; fwd-status=200; stored; ttl=30`.
//
// Handlers with the same MaxSize and MaxItem share one store, which survives
// config reloads that keep these two values.
type Cache struct {
	// TTL is the freshness lifetime of successful responses for which the
	// upstream gave none (no s-maxage, max-age or Expires). Default: 0, which
	// stores only responses the upstream marks fresh.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// MaxSize bounds the memory of the stored responses, in bytes (body,
	// headers and key of each). Default: 256 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// MaxItem is the largest response stored, in bytes; larger ones stream
	// through uncached. Default: 1 MiB.
	MaxItem int64 `json:"max_item,omitempty"`
	// Share, when "public", lets responses marked `Cache-Control: public` be
	// served to every consumer. Default: empty (every response stays in its
	// caller's partition).
	Share string `json:"share,omitempty"`
	// Wait is how long concurrent misses for one key wait for the first
	// one's upstream answer before going upstream themselves. Default: 10s.
	Wait caddy.Duration `json:"wait,omitempty"`

	pooled  *pooledStore
	poolKey string
	policy  Policy
	maxBody int64
	gate    *gateway.Gate
	// onlyIfCached is the 504 to a request with only-if-cached that misses.
	onlyIfCached *gateway.Answer
	logger       *zap.Logger
	now          func() time.Time
	joined       func()       // test hook: called when a miss has joined its key's flight
	warned       *atomic.Bool // the late-identity warning was logged
}

// CaddyModule returns the Caddy module information.
func (Cache) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_cache",
		New: func() caddy.Module { return new(Cache) },
	}
}

// Default sizes.
const (
	defaultCacheMaxSize = 256 << 20
	defaultCacheMaxItem = 1 << 20
	defaultCacheWait    = 10 * time.Second
)

// Provision fills defaults and takes the store from the pool.
func (c *Cache) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	c.warned = new(atomic.Bool)
	if c.now == nil {
		c.now = time.Now
	}
	g, err := gateway.NewGate(ctx, "api_cache", gateway.Enforce)
	if err != nil {
		return err
	}
	c.gate = g
	c.onlyIfCached = g.Answer(http.StatusGatewayTimeout, "only_if_cached",
		"the response is not in the cache and the request asked for only-if-cached")
	if err := gateway.RegisterMetrics(ctx, collectors...); err != nil {
		return err
	}
	if c.MaxSize == 0 {
		c.MaxSize = defaultCacheMaxSize
	}
	if c.MaxItem == 0 {
		c.MaxItem = min(defaultCacheMaxItem, c.MaxSize)
	}
	if c.Wait == 0 {
		c.Wait = caddy.Duration(defaultCacheWait)
	}
	c.policy = Policy{DefaultTTL: time.Duration(c.TTL), SharePublic: c.Share == sharePublic}
	// Headers count towards an entry's cost: a body may use what is left.
	c.maxBody = c.MaxItem
	if c.MaxSize <= 0 || c.MaxItem <= 0 || c.MaxItem > c.MaxSize {
		// No store holds these sizes; Validate, which Caddy calls next,
		// says why.
		return nil
	}
	c.poolKey, c.pooled, err = loadStore(c.MaxSize, c.MaxItem)
	return err
}

// Validate checks the configuration.
func (c *Cache) Validate() error {
	switch {
	case c.TTL < 0:
		return fmt.Errorf("api_cache: ttl must not be negative")
	case c.MaxSize < 0 || c.MaxItem < 0:
		return fmt.Errorf("api_cache: max_size and max_item must not be negative")
	case c.MaxSize > 0 && c.MaxItem > c.MaxSize:
		return fmt.Errorf("api_cache: max_item (%d bytes) is larger than max_size (%d bytes)", c.MaxItem, c.MaxSize)
	case c.Share != "" && c.Share != sharePublic:
		return shareError(c.Share)
	case c.Wait < 0:
		return fmt.Errorf("api_cache: wait must not be negative")
	}
	return nil
}

// sharePublic is the one value of Share.
const sharePublic = "public"

// shareError is the one wording of a share value that is not public.
func shareError(v string) error {
	return fmt.Errorf("api_cache: share %q: the only value is public", v)
}

// Cleanup releases the store; the last handler using it frees it.
func (c *Cache) Cleanup() error {
	if c.poolKey != "" {
		_, err := stores.Delete(c.poolKey)
		return err
	}
	return nil
}

// Cache-Status values that do not depend on the request.
const (
	statusMethod = "apigate; fwd=method"
	statusBypass = "apigate; fwd=bypass"
)

func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace:
		cacheByMethod.Inc()
		w.Header().Add("Cache-Status", statusMethod)
		return next.ServeHTTP(w, r)
	default:
		// An unsafe method: whatever it changed, the stored responses of its
		// path are stale once it completes (RFC 9111 section 4.4). Responses
		// fetched while it ran are stored with the generation from before,
		// so they are stale too.
		cacheByMethod.Inc()
		w.Header().Add("Cache-Status", statusMethod)
		err := next.ServeHTTP(w, r)
		c.pooled.Invalidate(r.URL.Path)
		cacheInvalidations.Inc()
		return err
	}
	id := gateway.IdentityFrom(r)
	if len(r.Header["Range"]) > 0 || len(r.Header["Upgrade"]) > 0 || (id == nil && carriesCredentials(r)) {
		cacheBypassed.Inc()
		w.Header().Add("Cache-Status", statusBypass)
		return next.ServeHTTP(w, r)
	}
	req := noDirectives
	if cc := r.Header["Cache-Control"]; len(cc) > 0 {
		req = ParseCacheControl(cc)
	}
	part := partitionOf(id)
	kb := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(kb)
	kb.key = AppendKey(kb.key[:0], r.Host, r.URL.EscapedPath(), r.URL.RawQuery, part)
	now := c.now()

	fwd := "request" // the request's no-cache asks for the upstream
	if !req.NoCache {
		var e *Entry
		if e, fwd = c.find(kb, part, r, now, req); e != nil {
			cacheHits.Inc()
			return c.serve(w, r, e, now, hitStatus(e, now))
		}
	}
	if req.OnlyIfCached {
		cacheMisses.Inc()
		w.Header().Add("Cache-Status", "apigate; fwd="+fwd+"; detail=only-if-cached")
		// The gate enforces (api_cache has no report mode): it answers.
		_, err := c.gate.Reject(w, r, c.onlyIfCached)
		return err
	}
	if r.Method == http.MethodHead || req.NoStore {
		// HEAD fills nothing (it has no body); no-store forbids storing.
		cacheMisses.Inc()
		w.Header().Add("Cache-Status", "apigate; fwd="+fwd)
		return next.ServeHTTP(w, r)
	}
	return c.fill(w, r, next, string(kb.key), part, req, fwd)
}

// carriesCredentials reports a request, with no identity yet, that carries
// credentials of its own: in any header or query parameter a configured
// api_auth method reads (gateway.CarriesCredential: Authorization, X-API-Key and
// api_key always), a cookie or Proxy-Authorization. Its answer may be
// personal (an api_auth after the cache, or the upstream, may identify it),
// and the anonymous partition is shared by every caller without an identity,
// so it is neither served from nor stored in the cache (RFC 9111 section
// 3.5).
func carriesCredentials(r *http.Request) bool {
	return len(r.Header["Cookie"]) > 0 || len(r.Header["Proxy-Authorization"]) > 0 || gateway.CarriesCredential(r)
}

// partitionOf returns whose responses the caller with identity id (nil for
// none) may read.
func partitionOf(id *gateway.Identity) Partition {
	if id == nil {
		return Partition{Kind: Anonymous}
	}
	return Partition{Kind: Consumer, Method: id.Method, Consumer: id.Consumer, Scopes: id.ScopeString}
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Cache)(nil)
	_ caddy.Provisioner           = (*Cache)(nil)
	_ caddy.Validator             = (*Cache)(nil)
	_ caddy.CleanerUpper          = (*Cache)(nil)
)
