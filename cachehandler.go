package apigate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/singleflight"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/cache"
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

	pooled  *cacheStore
	poolKey string
	policy  cache.Policy
	maxBody int64
	logger  *zap.Logger
	now     func() time.Time
	joined  func()       // test hook: called when a miss has joined its key's flight
	warned  *atomic.Bool // the late-identity warning was logged
}

// cachePool holds the stores, keyed by size settings, so a reload keeps them.
var cachePool = caddy.NewUsagePool()

// cacheStore is a store in cachePool with its in-flight upstream requests.
type cacheStore struct {
	*cache.Store
	flights singleflight.Group
}

// Destruct frees the store when the last handler using it is cleaned up.
func (p *cacheStore) Destruct() error {
	p.Close()
	return nil
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
	if err := registerMetrics(ctx, cacheCollectors()...); err != nil {
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
	if err := c.Validate(); err != nil {
		return err
	}
	c.policy = cache.Policy{DefaultTTL: time.Duration(c.TTL), SharePublic: c.Share == "public"}
	// Headers count towards an entry's cost: a body may use what is left.
	c.maxBody = c.MaxItem
	c.poolKey = fmt.Sprintf("api_cache/%d/%d", c.MaxSize, c.MaxItem)
	v, _, err := cachePool.LoadOrNew(c.poolKey, func() (caddy.Destructor, error) {
		s, err := cache.NewStore(cache.Config{
			MaxSize:  c.MaxSize,
			MaxItem:  c.MaxItem,
			OnEvict:  func(int64) { cacheEvictions.Inc() },
			OnReject: func() { cacheRejections.Inc() },
		})
		if err != nil {
			return nil, err
		}
		return &cacheStore{Store: s}, nil
	})
	if err != nil {
		c.poolKey = ""
		return fmt.Errorf("api_cache: %w", err)
	}
	c.pooled = v.(*cacheStore)
	return nil
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
	case c.Share != "" && c.Share != "public":
		return fmt.Errorf("api_cache: share %q: the only value is public", c.Share)
	case c.Wait < 0:
		return fmt.Errorf("api_cache: wait must not be negative")
	}
	return nil
}

// Cleanup releases the store; the last handler using it frees it.
func (c *Cache) Cleanup() error {
	if c.poolKey != "" {
		_, err := cachePool.Delete(c.poolKey)
		return err
	}
	return nil
}

// Cache-Status values that do not depend on the request.
const (
	statusMethod = "apigate; fwd=method"
	statusBypass = "apigate; fwd=bypass"
)

// keyBuf is a pooled scratch buffer for building keys on the request path.
type keyBuf struct{ key, alt, vary []byte }

var keyBufs = sync.Pool{New: func() any {
	return &keyBuf{key: make([]byte, 0, 256), alt: make([]byte, 0, 256), vary: make([]byte, 0, 256)}
}}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// noDirectives are the directives of a request without Cache-Control.
var noDirectives = cache.ParseCacheControl(nil)

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
	id := identityFrom(r)
	if len(r.Header["Range"]) > 0 || len(r.Header["Upgrade"]) > 0 || (id == nil && carriesCredentials(r)) {
		cacheBypassed.Inc()
		w.Header().Add("Cache-Status", statusBypass)
		return next.ServeHTTP(w, r)
	}
	req := noDirectives
	if cc := r.Header["Cache-Control"]; len(cc) > 0 {
		req = cache.ParseCacheControl(cc)
	}
	part := partitionOf(id)
	kb := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(kb)
	host, path := r.Host, r.URL.EscapedPath()
	kb.key = cache.AppendKey(kb.key[:0], host, path, r.URL.RawQuery, part)
	now := c.now()

	fwd := "request" // the request's no-cache asks for the upstream
	if !req.NoCache {
		var e *cache.Entry
		e, fwd = c.lookup(kb, kb.key, part, r, now, req)
		if e == nil && c.policy.SharePublic {
			shared := cache.Partition{Kind: cache.Shared}
			key := cache.AppendKey(kb.alt[:0], host, path, r.URL.RawQuery, shared)
			kb.alt = key
			if se, sfwd := c.lookup(kb, key, shared, r, now, req); se != nil {
				e = se
			} else if fwd == "uri-miss" {
				fwd = sfwd
			}
		}
		if e != nil {
			cacheHits.Inc()
			return c.serve(w, r, e, now, hitStatus(e, now))
		}
	}
	if req.OnlyIfCached {
		cacheMisses.Inc()
		w.Header().Add("Cache-Status", "apigate; fwd="+fwd+"; detail=only-if-cached")
		return writeProblem(w, http.StatusGatewayTimeout, bodyOnlyIfCached)
	}
	if r.Method == http.MethodHead || req.NoStore {
		// HEAD fills nothing (it has no body); no-store forbids storing.
		cacheMisses.Inc()
		w.Header().Add("Cache-Status", "apigate; fwd="+fwd)
		return next.ServeHTTP(w, r)
	}
	return c.fill(w, r, next, string(kb.key), part, req, fwd)
}

var bodyOnlyIfCached = problemBody(http.StatusGatewayTimeout, "the response is not in the cache and the request asked for only-if-cached")

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
func partitionOf(id *authn.Identity) cache.Partition {
	if id == nil {
		return cache.Partition{Kind: cache.Anonymous}
	}
	return cache.Partition{Kind: cache.Consumer, Method: id.Method, Consumer: id.Consumer, Scopes: id.ScopeString}
}

// lookup finds a usable entry for key, following a Vary index. Without one it
// returns the RFC 9211 fwd reason.
func (c *Cache) lookup(kb *keyBuf, key []byte, part cache.Partition, r *http.Request, now time.Time, req cache.Directives) (*cache.Entry, string) {
	e, ok := c.pooled.Get(key)
	if !ok {
		return nil, "uri-miss"
	}
	if e.Index {
		vk := cache.AppendVary(append(kb.vary[:0], key...), e.VaryNames, r.Header)
		kb.vary = vk
		if e, ok = c.pooled.Get(vk); !ok {
			return nil, "vary-miss"
		}
	}
	if !e.Partition.Same(part) {
		// The key holds the partition, so this cannot happen short of a bug:
		// refuse rather than serve another caller's response.
		cacheMismatches.Inc()
		if ce := c.logger.Check(zapcore.ErrorLevel, "cache entry of another partition refused"); ce != nil {
			ce.Write()
		}
		return nil, "miss"
	}
	if !e.Usable(now, req) {
		if e.Remaining(now) <= 0 {
			return nil, "stale"
		}
		return nil, "request"
	}
	return e, ""
}

// warnLateIdentity tells the operator, once per handler, that api_cache runs
// before the api_auth of its route.
func (c *Cache) warnLateIdentity() {
	if c.warned.CompareAndSwap(false, true) {
		c.logger.Warn("api_cache runs before api_auth: answers to the callers api_auth identifies are not stored; " +
			"write api_cache after api_auth, in the same block")
	}
}

func hitStatus(e *cache.Entry, now time.Time) string {
	return "apigate; hit; ttl=" + strconv.FormatInt(int64(e.Remaining(now)/time.Second), 10)
}

// flightResult is what the first of concurrent misses hands the others.
type flightResult struct {
	entry   *cache.Entry
	varyKey []byte // the leader's values of the entry's Vary headers
	panic   any
}

var errAbandoned = errors.New("api_cache: request stopped waiting")

// statusClientClosed is the status Caddy logs for a client that went away.
const statusClientClosed = 499

// fill answers a miss: the first request for a key goes upstream and stores
// the answer; concurrent ones wait for it (at most Wait) and reuse it when it
// was stored and matches their Vary headers, or go upstream themselves.
func (c *Cache) fill(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part cache.Partition, req cache.Directives, fwd string) error {
	// state: 0 waiting, 1 this request leads (its fn runs and writes to w),
	// 2 this request gave up waiting (its fn, should it run, must not).
	var state atomic.Int32
	var upstreamErr error
	fn := func() (v any, err error) {
		if !state.CompareAndSwap(0, 1) {
			return nil, errAbandoned
		}
		res := new(flightResult)
		defer func() {
			if p := recover(); p != nil {
				// A panic must not escape singleflight's goroutine: hand it
				// to the leader's request goroutine, where Caddy recovers it.
				res.panic = p
				v, err = res, nil
			}
		}()
		res.entry, res.varyKey, upstreamErr = c.forward(w, r, next, []byte(key), part, req, fwd)
		return res, nil
	}
	ch := c.pooled.flights.DoChan(key, fn)
	// Counted once the request is in its key's flight, so a miss counted
	// while the flight's upstream request runs shares it.
	cacheMisses.Inc()
	if c.joined != nil {
		c.joined()
	}
	var timeout <-chan time.Time
	if c.Wait > 0 {
		t := time.NewTimer(time.Duration(c.Wait))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case res := <-ch:
			if state.Load() == 1 {
				fr := res.Val.(*flightResult)
				if fr.panic != nil {
					panic(fr.panic)
				}
				return upstreamErr
			}
			return c.follow(w, r, next, key, part, req, res)
		case <-timeout:
			timeout = nil
			if state.CompareAndSwap(0, 2) {
				cacheWaitTimeouts.Inc()
				return c.alone(w, r, next, key, part, req, "miss")
			}
		case <-r.Context().Done():
			if state.CompareAndSwap(0, 2) {
				return caddyhttp.Error(statusClientClosed, r.Context().Err())
			}
		}
	}
}

// follow serves a waiter from the leader's result, or sends it upstream.
func (c *Cache) follow(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part cache.Partition, req cache.Directives, res singleflight.Result) error {
	fr, _ := res.Val.(*flightResult)
	if res.Err != nil || fr == nil || fr.entry == nil || fr.panic != nil {
		return c.alone(w, r, next, key, part, req, "miss")
	}
	e := fr.entry
	now := c.now()
	if !e.Usable(now, req) || !c.pooled.Current(r.URL.Path, e.Gen()) ||
		!bytes.Equal(fr.varyKey, cache.AppendVary(nil, e.VaryNames, r.Header)) ||
		(!e.Partition.Same(part) && e.Partition.Kind != cache.Shared) {
		return c.alone(w, r, next, key, part, req, "miss")
	}
	cacheCollapsed.Inc()
	return c.serve(w, r, e, now, "apigate; fwd=uri-miss; collapsed; ttl="+strconv.FormatInt(int64(e.Remaining(now)/time.Second), 10))
}

// alone goes upstream for one request without coalescing.
func (c *Cache) alone(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part cache.Partition, req cache.Directives, fwd string) error {
	_, _, err := c.forward(w, r, next, []byte(key), part, req, fwd)
	return err
}

// forward sends the request upstream, buffering a response that may be
// stored (up to MaxItem bytes; past that it streams on), stores it, and
// writes it to w. Other responses stream through. It returns the stored
// entry, if any, and the request's values of its Vary headers.
func (c *Cache) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key []byte, part cache.Partition, req cache.Directives, fwd string) (*cache.Entry, []byte, error) {
	gen := c.pooled.Snapshot(r.URL.Path)
	iso := &isolatedWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, hdr: make(http.Header)}
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= int(c.maxBody)+4096 {
			bodyBufs.Put(buf)
		}
	}()
	prefix := "apigate; fwd=" + fwd + "; fwd-status="
	shouldBuffer := func(status int, h http.Header) bool {
		if storableHead(status, h, c.maxBody) {
			return true
		}
		h.Add("Cache-Status", prefix+strconv.Itoa(status))
		return false
	}
	rec := &boundedRecorder{
		ResponseRecorder: caddyhttp.NewResponseRecorder(iso, buf, shouldBuffer),
		iso:              iso,
		max:              int(c.maxBody),
		status:           prefix,
	}
	// Whoever api_auth identifies downstream, the key was computed before.
	before := identityFrom(r)
	if err := next.ServeHTTP(rec, r); err != nil {
		if !iso.wroteHeader {
			w.Header().Add("Cache-Status", "apigate; fwd="+fwd)
		}
		return nil, nil, err
	}
	if !rec.Buffered() || rec.overflow {
		return nil, nil, nil
	}
	status := rec.Status()
	if status == 0 {
		status = http.StatusOK
	}
	h := iso.hdr
	now := c.now()
	var e *cache.Entry
	var varyKey []byte
	stored := false
	dec := cache.Decide(status, h, req, now, c.policy)
	detail := ""
	if dec.Store && identityFrom(r) != before {
		// An api_auth after this handler identified the caller (the vars
		// map is shared, so its identity is visible here): the answer is
		// that caller's, but the key holds the partition from before (the
		// anonymous one, or another identity). Never store it.
		dec = cache.Decision{Reason: "identity established after api_cache"}
		detail = "; detail=identity-after-cache"
		cacheLateIdentity.Inc()
		c.warnLateIdentity()
	}
	if dec.Store {
		e, varyKey = c.entry(key, part, status, h, buf.Bytes(), r, dec, now)
		stored = c.store(e, varyKey, r, now, gen)
		if !stored {
			e = nil
		}
	} else if ce := c.logger.Check(zapcore.DebugLevel, "response not stored"); ce != nil {
		ce.Write(zap.String("reason", dec.Reason), zap.Int("status", status))
	}
	cs := prefix + strconv.Itoa(status) + detail
	if stored {
		cacheStored.Inc()
		cs += "; stored; ttl=" + strconv.FormatInt(int64((dec.Lifetime-dec.InitialAge)/time.Second), 10)
	}
	h.Add("Cache-Status", cs)
	if e != nil {
		// The client of the request that filled the entry gets its Age too.
		h.Set("Age", strconv.FormatInt(int64(e.Age(now)/time.Second), 10))
	}
	return e, varyKey, rec.WriteResponse()
}

// boundedRecorder bounds what Caddy's response recorder buffers: once a
// buffered body would pass max, what was buffered is written out and the rest
// streams through, and the response is not stored. This lets responses of
// unknown length (chunked, compressed by encode) be stored when small.
type boundedRecorder struct {
	caddyhttp.ResponseRecorder
	iso      *isolatedWriter
	max      int
	status   string // Cache-Status up to the forwarded status
	overflow bool
}

func (b *boundedRecorder) Write(p []byte) (int, error) {
	if b.overflow {
		return b.iso.Write(p)
	}
	b.ResponseRecorder.WriteHeader(http.StatusOK) // no-op once written
	if !b.Buffered() || b.Buffer().Len()+len(p) <= b.max {
		return b.ResponseRecorder.Write(p)
	}
	b.overflow = true
	b.iso.Header().Add("Cache-Status", b.status+strconv.Itoa(b.Status()))
	b.iso.WriteHeader(b.Status())
	if _, err := b.iso.Write(b.Buffer().Bytes()); err != nil {
		return 0, err
	}
	b.Buffer().Reset()
	return b.iso.Write(p)
}

// ReadFrom goes through Write, so the bound holds.
func (b *boundedRecorder) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(writerOnly{b}, r)
}

// FlushError flushes a streamed response; a buffered one is not flushed.
func (b *boundedRecorder) FlushError() error {
	if b.overflow {
		return http.NewResponseController(b.iso).Flush()
	}
	return http.NewResponseController(b.ResponseRecorder).Flush()
}

// Unwrap lets http.ResponseController reach the recorder (Hijack).
func (b *boundedRecorder) Unwrap() http.ResponseWriter { return b.ResponseRecorder }

type writerOnly struct{ io.Writer }

// storableHead reports, from the status and headers alone, whether a response
// may be stored and so is worth buffering: no header that forbids storing, a
// length (when known) within max, and not a stream meant to be forwarded as
// it comes (Server-Sent Events, `Incremental: ?1`).
func storableHead(status int, h http.Header, max int64) bool {
	if status < 200 || status >= 500 || len(h["Set-Cookie"]) > 0 || caddyhttp.IsIncremental(h) {
		return false
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if len(cl) != 1 || err != nil || n < 0 || n > max {
			return false
		}
	}
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
		return false
	}
	cc := cache.ParseCacheControl(h["Cache-Control"])
	return !cc.NoStore && !cc.Private
}

// hopHeaders are not stored (reverse_proxy removed most already); Age is
// recomputed on every hit.
var hopHeaders = []string{"Age", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Cache-Status"}

// entry builds the entry of a response. Its header values are clipped copies,
// so nothing the response writer does later can change them.
func (c *Cache) entry(key []byte, part cache.Partition, status int, h http.Header, body []byte, r *http.Request, dec cache.Decision, now time.Time) (*cache.Entry, []byte) {
	hdr := make(http.Header, len(h))
	for k, vs := range h {
		if slices.Contains(hopHeaders, k) {
			continue
		}
		hdr[k] = slices.Clip(slices.Clone(vs))
	}
	names, _ := cache.VaryNames(h)
	varyKey := cache.AppendVary(nil, names, r.Header)
	if dec.Shared {
		part = cache.Partition{Kind: cache.Shared}
		key = cache.AppendKey(nil, r.Host, r.URL.EscapedPath(), r.URL.RawQuery, part)
	}
	full := slices.Clone(key)
	if len(names) > 0 {
		full = append(full, varyKey...)
	}
	return &cache.Entry{
		Key:        slices.Clip(full),
		Partition:  part,
		VaryNames:  names,
		Status:     status,
		Header:     hdr,
		Body:       bytes.Clone(body),
		Stored:     now,
		InitialAge: dec.InitialAge,
		Lifetime:   dec.Lifetime,
	}, varyKey
}

// store puts e, and for a response with Vary the index under its base key.
func (c *Cache) store(e *cache.Entry, varyKey []byte, r *http.Request, now time.Time, gen cache.Gen) bool {
	path := r.URL.Path
	if len(e.VaryNames) > 0 {
		base := e.Key[:len(e.Key)-len(varyKey)]
		idx := &cache.Entry{Key: slices.Clip(base), Partition: e.Partition, Index: true, VaryNames: e.VaryNames,
			Stored: now, InitialAge: e.InitialAge, Lifetime: e.Lifetime}
		if !c.pooled.Set(idx, path, gen, now) {
			return false
		}
	}
	return c.pooled.Set(e, path, gen, now)
}

// serve answers from an entry: its headers, Age, Cache-Status, and its body
// unless the request is HEAD or its validators match (304).
func (c *Cache) serve(w http.ResponseWriter, r *http.Request, e *cache.Entry, now time.Time, cacheStatus string) error {
	h := w.Header()
	n := 0
	for _, vs := range e.Header {
		n += len(vs)
	}
	vals := make([]string, n)
	for k, vs := range e.Header {
		if old := h[k]; len(old) > 0 {
			h[k] = append(old, vs...)
			continue
		}
		m := copy(vals, vs)
		h[k] = vals[:m:m]
		vals = vals[m:]
	}
	h["Age"] = []string{strconv.FormatInt(int64(e.Age(now)/time.Second), 10)}
	h.Add("Cache-Status", cacheStatus)
	if e.Status == http.StatusOK && notModified(r, e) {
		for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding"} {
			delete(h, k)
		}
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(e.Body)
	return err
}

// notModified evaluates If-None-Match (weak comparison), else
// If-Modified-Since, against the entry (RFC 9110 section 13.2.2).
func notModified(r *http.Request, e *cache.Entry) bool {
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		etag := e.Header.Get("Etag")
		if etag == "" {
			return false
		}
		etag = strings.TrimPrefix(etag, "W/")
		for _, v := range inm {
			for t := range strings.SplitSeq(v, ",") {
				t = strings.TrimSpace(t)
				if t == "*" || strings.TrimPrefix(t, "W/") == etag {
					return true
				}
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		lm, err1 := http.ParseTime(e.Header.Get("Last-Modified"))
		since, err2 := http.ParseTime(ims)
		return err1 == nil && err2 == nil && !lm.After(since)
	}
	return false
}

// isolatedWriter gives the handlers after api_cache a header map of their
// own, so what is stored is the upstream's headers only, not those earlier
// handlers set for this one request (rate limits, deprecation). Writing the
// header merges them, as reverse_proxy would have.
type isolatedWriter struct {
	*caddyhttp.ResponseWriterWrapper
	hdr         http.Header
	wroteHeader bool
}

func (iw *isolatedWriter) Header() http.Header { return iw.hdr }

func (iw *isolatedWriter) WriteHeader(status int) {
	h := iw.ResponseWriterWrapper.Header()
	for k, vs := range iw.hdr {
		h[k] = append(h[k], vs...)
	}
	if status >= 200 || status == http.StatusSwitchingProtocols {
		iw.wroteHeader = true
	}
	clear(iw.hdr)
	iw.ResponseWriterWrapper.WriteHeader(status)
}

// purgeCaches purges every store, or makes the responses of one path stale
// in every store, and returns how many stores there are.
func purgeCaches(path string) int {
	n := 0
	cachePool.Range(func(_, v any) bool {
		p := v.(*cacheStore)
		if path == "" {
			p.Purge()
		} else {
			p.Invalidate(path)
		}
		n++
		return true
	})
	cacheInvalidations.Inc()
	return n
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Cache)(nil)
	_ caddy.Provisioner           = (*Cache)(nil)
	_ caddy.Validator             = (*Cache)(nil)
	_ caddy.CleanerUpper          = (*Cache)(nil)
)
