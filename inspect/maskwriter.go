package inspect

import (
	"bufio"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// maskBufferLimit is the largest response with a Content-Length that is
// masked whole, so its Content-Length stays right. Larger responses, and
// those without a length, are masked as they stream, without one.
const maskBufferLimit = 64 << 10

// maxCodings bounds the content codings of a response the gateway decodes
// (`gzip, gzip, ...` a hundred times is refused, not decoded).
const maxCodings = 3

// unmaskable is why an answer cannot be masked; each has its 502 (answers).
type unmaskable uint8

const (
	unmaskablePartial  unmaskable = iota + 1 // partial content
	unmaskableEncoding                       // a content coding that is not read, or does not decode
)

// dropUnmaskableAsks removes from r the headers that ask for an answer that
// cannot be masked (a compressed body, a part of it), so the upstream sends
// a whole, readable body; restoreUnmaskableAsks puts them back once the
// answer is done (handlers before this one may read them).
func dropUnmaskableAsks(r *http.Request) (saved [len(unmaskableAsks)][]string) {
	for i, name := range unmaskableAsks {
		if i >= firstValidatorAsk && r.Method != http.MethodGet && r.Method != http.MethodHead {
			break
		}
		if v, ok := r.Header[name]; ok {
			saved[i] = v
			delete(r.Header, name)
		}
	}
	return saved
}

func restoreUnmaskableAsks(r *http.Request, saved [len(unmaskableAsks)][]string) {
	for i, name := range unmaskableAsks {
		if saved[i] != nil {
			r.Header[name] = saved[i]
		}
	}
}

// unmaskableAsks are the request headers that ask for an answer that cannot
// be masked (canonical form). From firstValidatorAsk on, the conditions on a
// validator of the unmasked body (many frameworks hash the body into the
// ETag): a 304 or a 412 would confirm a guess of what was masked. They are
// taken off GET and HEAD only; an unsafe request's If-Match guards a write.
var unmaskableAsks = [...]string{"Accept-Encoding", "Range", "If-Range", "If-None-Match", "If-Match"}

const firstValidatorAsk = 3

// maskResponseWriter masks response bodies on their way to the client: every
// body except those of a declared binary type (binaryType). A compressed body
// is decoded first (gzip, deflate, zstd); an answer that cannot be masked (a
// 206, a body in another coding) is replaced by a 502 problem+json, in report
// mode too: a masked route never passes an unmasked body. 1xx, 204 and 304
// answers pass. It never implements io.ReaderFrom, so every byte goes through
// Write.
type maskResponseWriter struct {
	http.ResponseWriter
	in *Inspect
	r  *http.Request

	wroteHeader bool // the handler sent its header
	sentHeader  bool // the header went to the client
	active      bool // the body is masked
	refused     bool // the answer was replaced by a 502: the body is dropped
	buffering   bool
	head        bool // the answer to a HEAD: no body, only its headers
	status      int
	codings     []string // content codings to decode, in the order applied
	derived     [len(bodyDerivedHeaders)][]string
	buf         []byte
	mw          *MaskWriter
	dec         *bodyDecoder
}

// maskAction is what happens to a response.
type maskAction int

const (
	maskPass   maskAction = iota // untouched: no body, or a binary one
	maskBody                     // masked, decoded first when codings are set
	maskRefuse                   // replaced by a 502
)

// classify decides what happens to a response with this status and header.
// An answer with no Content-Type, or one that cannot be parsed, is masked
// as text.
func classify(status int, h http.Header) (action maskAction, codings []string, why unmaskable) {
	switch status {
	case http.StatusNoContent, http.StatusNotModified:
		return maskPass, nil, 0
	case http.StatusPartialContent:
		// A part may begin or end inside a card or an address that only the
		// whole body shows: never masked, never passed.
		return maskRefuse, nil, unmaskablePartial
	}
	if binaryType(h.Get("Content-Type")) {
		return maskPass, nil, 0
	}
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch c {
			case "", "identity":
			case "gzip", "x-gzip", "deflate", "zstd":
				codings = append(codings, c)
			default:
				return maskRefuse, nil, unmaskableEncoding
			}
		}
	}
	if len(codings) > maxCodings {
		return maskRefuse, nil, unmaskableEncoding
	}
	return maskBody, codings, 0
}

// binaryType reports whether a Content-Type names a binary format whose
// bytes masking would corrupt. Every other type, and none, is masked.
func binaryType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "image/"):
		return mt != "image/svg+xml"
	case strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "font/"),
		strings.HasPrefix(mt, "application/grpc"):
		return true
	}
	switch mt {
	case "application/octet-stream", "application/pdf", "application/zip", "application/gzip",
		"application/zstd", "application/x-tar", "application/x-7z-compressed", "application/x-bzip2",
		"application/x-xz", "application/wasm", "application/protobuf", "application/x-protobuf",
		"application/msgpack", "application/x-msgpack", "application/cbor":
		return true
	}
	return false
}

func (w *maskResponseWriter) WriteHeader(code int) {
	if code < 200 || w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if w.head || code == http.StatusNotModified {
		dropUnmaskedBodyHeaders(code, h)
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(code)
		return
	}
	action, codings, why := classify(code, h)
	switch action {
	case maskPass:
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(code)
		return
	case maskRefuse:
		w.refuse(why)
		return
	}
	w.active, w.status, w.codings = true, code, codings
	// Validators and digests computed over the upstream's body (many
	// frameworks hash the body into the ETag) would let a client test
	// guesses of what was masked: they go, unless the body turns out to
	// hold nothing to mask. Ranges of the original do not match either.
	for i, name := range bodyDerivedHeaders {
		if v, ok := h[name]; ok {
			w.derived[i] = v
			delete(h, name)
		}
	}
	h.Del("Accept-Ranges")
	if codings != nil {
		// The client gets the decoded body.
		h.Del("Content-Encoding")
	}
	if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && cl <= maskBufferLimit {
		w.buffering = true
		w.buf = make([]byte, 0, cl)
		return
	}
	w.stream()
}

// stream starts masking as the body arrives: at once, or for a compressed
// body, from its first decoded byte (so that a body that does not decode can
// still be refused).
func (w *maskResponseWriter) stream() {
	if w.codings == nil {
		w.sendHeader()
		return
	}
	w.dec = startDecoder(w.r.Context(), w.codings, lazyHeader{w})
}

// sendHeader sends the header without a length and masks from now on.
func (w *maskResponseWriter) sendHeader() {
	w.Header().Del("Content-Length")
	w.sentHeader = true
	w.ResponseWriter.WriteHeader(w.status)
	w.mw = w.in.masker.NewWriter(w.ResponseWriter)
}

// lazyHeader is where decoded bytes go: the header is sent with the first.
type lazyHeader struct{ w *maskResponseWriter }

func (l lazyHeader) Write(p []byte) (int, error) {
	if !l.w.sentHeader {
		l.w.sendHeader()
	}
	return l.w.mw.Write(p)
}

// refuse answers 502 in place of an answer that cannot be masked, and
// drops its body. The refusal goes through the strict gate: report mode does
// not turn it into a pass, since a masked route never passes an unmasked
// body.
func (w *maskResponseWriter) refuse(why unmaskable) {
	w.refused, w.active, w.buffering, w.buf = true, false, false, nil
	h := w.Header()
	for _, name := range representationHeaders {
		h.Del(name)
	}
	w.sentHeader = true
	_, _ = w.in.strictGate.Reject(w.ResponseWriter, w.r, w.in.ans.response[why])
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// dropUnmaskedBodyHeaders removes, from an answer that has no body to mask
// (a HEAD's, a 304), the headers that describe the unmasked body the client
// never gets: its validators and digests, and for a HEAD its length, coding
// and ranges, as the GET's masked answer would not have them either.
func dropUnmaskedBodyHeaders(code int, h http.Header) {
	if code == http.StatusNoContent || binaryType(h.Get("Content-Type")) {
		return
	}
	for _, name := range bodyDerivedHeaders {
		delete(h, name)
	}
	if code != http.StatusNotModified {
		for _, name := range [...]string{"Content-Length", "Content-Encoding", "Content-Range", "Accept-Ranges"} {
			delete(h, name)
		}
	}
}

// bodyDerivedHeaders are computed from the body (canonical form).
var bodyDerivedHeaders = [...]string{"Etag", "Content-Digest", "Repr-Digest", "Digest", "Content-Md5"}

// representationHeaders describe an upstream's body; a refusal removes them.
var representationHeaders = []string{
	"Content-Encoding", "Content-Range", "Content-Length", "Content-Type", "Content-Disposition",
	"Content-Language", "Content-Location", "Content-Digest", "Repr-Digest", "Digest", "Content-Md5",
	"ETag", "Last-Modified", "Accept-Ranges", "Trailer",
}

func (w *maskResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.refused:
		return len(p), nil
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
	case w.dec != nil:
		n, err := w.dec.Write(p)
		if derr := w.dec.failed(); derr != nil && w.sentHeader {
			// Part of the answer is out: abort it rather than end it short.
			return 0, fmt.Errorf("decoding the upstream's answer: %w", derr)
		}
		return n, err
	}
	return w.mw.Write(p)
}

func (w *maskResponseWriter) stopBuffering() error {
	w.buffering = false
	buf := w.buf
	w.buf = nil
	w.stream()
	if w.dec != nil {
		_, err := w.dec.Write(buf)
		return err
	}
	_, err := w.mw.Write(buf)
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
	if w.dec != nil && !w.sentHeader {
		// A flush asks for the header (server-sent events); the decoder is
		// idle between writes.
		w.sendHeader()
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
	case w.buffering && w.codings != nil:
		return w.finishDecoding()
	case w.buffering:
		w.buffering = false
		out := w.in.masker.Mask(w.buf)
		if len(out) == 0 || &out[0] == &w.buf[0] {
			// Nothing was masked: the upstream's validators still hold.
			for i, name := range bodyDerivedHeaders {
				if w.derived[i] != nil {
					w.Header()[name] = w.derived[i]
				}
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(w.status)
		_, err := w.ResponseWriter.Write(out)
		return err
	case w.dec != nil:
		err := w.dec.Close()
		if err != nil && !w.sentHeader {
			w.refuse(unmaskableEncoding)
			return nil
		}
		if err != nil {
			return fmt.Errorf("decoding the upstream's answer: %w", err)
		}
		if !w.sentHeader {
			w.sendHeader() // an empty body
		}
		return w.mw.Close()
	case w.mw != nil:
		return w.mw.Close()
	}
	return nil
}
