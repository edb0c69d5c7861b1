package cache

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/singleflight"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// flightResult is what the first of concurrent misses hands the others.
type flightResult struct {
	entry   *Entry
	varyKey []byte // the leader's values of the entry's Vary headers
	panic   any
}

var errAbandoned = errors.New("api_cache: request stopped waiting")

// statusClientClosed is the status Caddy logs for a client that went away.
const statusClientClosed = 499

// fill answers a miss: the first request for a key goes upstream and stores
// the answer; concurrent ones wait for it (at most Wait) and reuse it when it
// was stored and matches their Vary headers, or go upstream themselves.
func (c *Cache) fill(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part Partition, req Directives, fwd string) error {
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
func (c *Cache) follow(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part Partition, req Directives, res singleflight.Result) error {
	fr, _ := res.Val.(*flightResult)
	if res.Err != nil || fr == nil || fr.entry == nil || fr.panic != nil {
		return c.alone(w, r, next, key, part, req, "miss")
	}
	e := fr.entry
	now := c.now()
	if !e.Usable(now, req) || !c.pooled.Current(r.URL.Path, e.Gen()) ||
		!bytes.Equal(fr.varyKey, AppendVary(nil, e.VaryNames, r.Header)) ||
		(!e.Partition.Same(part) && e.Partition.Kind != Shared) {
		return c.alone(w, r, next, key, part, req, "miss")
	}
	cacheCollapsed.Inc()
	return c.serve(w, r, e, now, "apigate; fwd=uri-miss; collapsed; ttl="+strconv.FormatInt(int64(e.Remaining(now)/time.Second), 10))
}

// alone goes upstream for one request without coalescing.
func (c *Cache) alone(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, part Partition, req Directives, fwd string) error {
	_, _, err := c.forward(w, r, next, []byte(key), part, req, fwd)
	return err
}

// forward sends the request upstream, buffering a response that may be
// stored (up to MaxItem bytes; past that it streams on), stores it, and
// writes it to w. Other responses stream through. It returns the stored
// entry, if any, and the request's values of its Vary headers.
func (c *Cache) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key []byte, part Partition, req Directives, fwd string) (*Entry, []byte, error) {
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
	before := gateway.IdentityFrom(r)
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
	late := gateway.IdentityFrom(r) != before
	e, varyKey := c.keep(key, part, status, iso.hdr, buf.Bytes(), r, req, gen, late, prefix)
	return e, varyKey, rec.WriteResponse()
}

// keep stores a buffered response when it may be, and adds its Cache-Status
// (after prefix) and, when stored, its Age to h. It returns the stored entry,
// if any, and the request's values of its Vary headers. late reports that an
// api_auth after this handler identified the caller.
func (c *Cache) keep(key []byte, part Partition, status int, h http.Header, body []byte, r *http.Request, req Directives, gen Gen, late bool, prefix string) (*Entry, []byte) {
	now := c.now()
	dec := Decide(status, h, req, now, c.policy)
	cs := prefix + strconv.Itoa(status)
	if dec.Store && late {
		// The vars map is shared, so the identity of an api_auth after this
		// handler is visible here: the answer is that caller's, but the key
		// holds the partition from before (the anonymous one, or another
		// identity). Never store it.
		cacheLateIdentity.Inc()
		c.warnLateIdentity()
		h.Add("Cache-Status", cs+"; detail=identity-after-cache")
		return nil, nil
	}
	if !dec.Store {
		if ce := c.logger.Check(zapcore.DebugLevel, "response not stored"); ce != nil {
			ce.Write(zap.String("reason", dec.Reason), zap.Int("status", status))
		}
		h.Add("Cache-Status", cs)
		return nil, nil
	}
	e, varyKey := c.entry(key, part, status, h, body, r, dec, now)
	if !c.store(e, varyKey, r, now, gen) {
		h.Add("Cache-Status", cs)
		return nil, nil
	}
	cacheStored.Inc()
	h.Add("Cache-Status", cs+"; stored; ttl="+strconv.FormatInt(int64((dec.Lifetime-dec.InitialAge)/time.Second), 10))
	// The client of the request that filled the entry gets its Age too.
	h.Set("Age", strconv.FormatInt(int64(e.Age(now)/time.Second), 10))
	return e, varyKey
}

// warnLateIdentity tells the operator, once per handler, that api_cache runs
// before the api_auth of its route.
func (c *Cache) warnLateIdentity() {
	if c.warned.CompareAndSwap(false, true) {
		c.logger.Warn("api_cache runs before api_auth: answers to the callers api_auth identifies are not stored; " +
			"write api_cache after api_auth, in the same block")
	}
}

// hopHeaders are not stored (reverse_proxy removed most already); Age is
// recomputed on every hit.
var hopHeaders = []string{"Age", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Cache-Status"}

// entry builds the entry of a response. Its header values are clipped copies,
// so nothing the response writer does later can change them.
func (c *Cache) entry(key []byte, part Partition, status int, h http.Header, body []byte, r *http.Request, dec Decision, now time.Time) (*Entry, []byte) {
	hdr := make(http.Header, len(h))
	for k, vs := range h {
		if slices.Contains(hopHeaders, k) {
			continue
		}
		hdr[k] = slices.Clip(slices.Clone(vs))
	}
	names, _ := VaryNames(h)
	varyKey := AppendVary(nil, names, r.Header)
	if dec.Shared {
		part = Partition{Kind: Shared}
		key = AppendKey(nil, r.Host, r.URL.EscapedPath(), r.URL.RawQuery, part)
	}
	full := slices.Clone(key)
	if len(names) > 0 {
		full = append(full, varyKey...)
	}
	return &Entry{
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
func (c *Cache) store(e *Entry, varyKey []byte, r *http.Request, now time.Time, gen Gen) bool {
	path := r.URL.Path
	if len(e.VaryNames) > 0 {
		base := e.Key[:len(e.Key)-len(varyKey)]
		idx := &Entry{Key: slices.Clip(base), Partition: e.Partition, Index: true, VaryNames: e.VaryNames,
			Stored: now, InitialAge: e.InitialAge, Lifetime: e.Lifetime}
		if !c.pooled.Set(idx, path, gen, now) {
			return false
		}
	}
	return c.pooled.Set(e, path, gen, now)
}
