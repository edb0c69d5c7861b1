package cache

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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
	cc := ParseCacheControl(h["Cache-Control"])
	return !cc.NoStore && !cc.Private
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
