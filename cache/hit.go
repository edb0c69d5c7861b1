package cache

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
)

// keyBuf is a pooled scratch buffer for building keys on the request path.
type keyBuf struct{ key, alt, vary []byte }

var keyBufs = sync.Pool{New: func() any {
	return &keyBuf{key: make([]byte, 0, 256), alt: make([]byte, 0, 256), vary: make([]byte, 0, 256)}
}}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// noDirectives are the directives of a request without Cache-Control.
var noDirectives = ParseCacheControl(nil)

// find looks the request up in its caller's partition and, with share
// public, in the shared one. Without a usable entry it returns the RFC 9211
// fwd reason.
func (c *Cache) find(kb *keyBuf, part Partition, r *http.Request, now time.Time, req Directives) (*Entry, string) {
	e, fwd := c.lookup(kb, kb.key, part, r, now, req)
	if e != nil || !c.policy.SharePublic {
		return e, fwd
	}
	shared := Partition{Kind: Shared}
	kb.alt = AppendKey(kb.alt[:0], r.Host, r.URL.EscapedPath(), r.URL.RawQuery, shared)
	se, sfwd := c.lookup(kb, kb.alt, shared, r, now, req)
	if se != nil {
		return se, ""
	}
	if fwd == "uri-miss" {
		fwd = sfwd
	}
	return nil, fwd
}

// lookup finds a usable entry for key, following a Vary index. Without one it
// returns the RFC 9211 fwd reason.
func (c *Cache) lookup(kb *keyBuf, key []byte, part Partition, r *http.Request, now time.Time, req Directives) (*Entry, string) {
	e, ok := c.pooled.Get(key)
	if !ok {
		return nil, "uri-miss"
	}
	if e.Index {
		vk := AppendVary(append(kb.vary[:0], key...), e.VaryNames, r.Header)
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

func hitStatus(e *Entry, now time.Time) string {
	return "apigate; hit; ttl=" + strconv.FormatInt(int64(e.Remaining(now)/time.Second), 10)
}

// serve answers from an entry: its headers, Age, Cache-Status, and its body
// unless the request is HEAD or its validators match (304).
func (c *Cache) serve(w http.ResponseWriter, r *http.Request, e *Entry, now time.Time, cacheStatus string) error {
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
func notModified(r *http.Request, e *Entry) bool {
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
