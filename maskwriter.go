package apigate

import (
	"bufio"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/apigate/caddy-apigate/inspect"
)

// maskBufferLimit is the largest response with a Content-Length that is
// masked whole, so its Content-Length stays right. Larger responses, and
// those without a length, are masked as they stream, without one.
const maskBufferLimit = 64 << 10

// maskResponseWriter masks JSON and text response bodies on their way to the
// client. Bodies with a Content-Encoding, of other types, 1xx, 204, 206 and
// 304 answers pass untouched. It never implements io.ReaderFrom, so every
// byte goes through Write.
type maskResponseWriter struct {
	http.ResponseWriter
	m *inspect.Masker

	wroteHeader bool
	active      bool
	buffering   bool
	status      int
	buf         []byte
	mw          *inspect.MaskWriter
}

// maskable reports whether a response with these headers is masked.
func maskable(status int, h http.Header) bool {
	switch status {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || isJSONType(mt) ||
		mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/problem+json"
}

func (w *maskResponseWriter) WriteHeader(code int) {
	if code < 200 || w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if !maskable(code, h) {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.active = true
	// The body changes: a strong validator no longer holds, and ranges of the
	// original do not match the masked one.
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et)
	}
	h.Del("Accept-Ranges")
	if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && cl <= maskBufferLimit {
		w.buffering, w.status = true, code
		w.buf = make([]byte, 0, cl)
		return
	}
	w.startStreaming(code)
}

// startStreaming sends the header without a length and masks from now on.
func (w *maskResponseWriter) startStreaming(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
	w.mw = w.m.NewWriter(w.ResponseWriter)
}

func (w *maskResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case !w.active:
		return w.ResponseWriter.Write(p)
	case w.buffering:
		w.buf = append(w.buf, p...)
		if len(w.buf) > maskBufferLimit {
			// More than announced: stream what there is.
			if err := w.stopBuffering(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	return w.mw.Write(p)
}

func (w *maskResponseWriter) stopBuffering() error {
	w.buffering = false
	w.startStreaming(w.status)
	_, err := w.mw.Write(w.buf)
	w.buf = nil
	return err
}

// FlushError flushes: a response being buffered switches to streaming, and
// what can be masked safely goes out (the writer holds back only bytes a
// match may still grow from).
func (w *maskResponseWriter) FlushError() error {
	if w.buffering {
		if err := w.stopBuffering(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is FlushError for callers that want an http.Flusher.
func (w *maskResponseWriter) Flush() { _ = w.FlushError() }

// Hijack passes a hijack on (WebSocket upgrades through reverse_proxy).
func (w *maskResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *maskResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes what is buffered or held back, once the handlers are done.
func (w *maskResponseWriter) finish() error {
	switch {
	case w.buffering:
		out := w.m.Mask(w.buf)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.ResponseWriter.WriteHeader(w.status)
		_, err := w.ResponseWriter.Write(out)
		w.buffering = false
		return err
	case w.mw != nil:
		return w.mw.Close()
	}
	return nil
}
