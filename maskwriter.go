package apigate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/apigate/caddy-apigate/inspect"
)

// maskBufferLimit is the largest response with a Content-Length that is
// masked whole, so its Content-Length stays right. Larger responses, and
// those without a length, are masked as they stream, without one.
const maskBufferLimit = 64 << 10

// maxCodings bounds the content codings of a response the gateway decodes
// (`gzip, gzip, ...` a hundred times is refused, not decoded).
const maxCodings = 3

// Answers that replace an upstream's answer that cannot be masked.
var (
	refusePartial = &refusal{http.StatusBadGateway, "response_partial",
		problemBody(http.StatusBadGateway, "the upstream answered with partial content, which this API does not pass on unmasked")}
	refuseEncoding = &refusal{http.StatusBadGateway, "response_encoding",
		problemBody(http.StatusBadGateway, "the upstream answered in a content coding this API cannot read to mask")}
)

// dropUnmaskableAsks removes from r the headers that ask for an answer that
// cannot be masked (a compressed body, a part of it), so the upstream sends
// a whole, readable body; restoreUnmaskableAsks puts them back once the
// answer is done (handlers before this one may read them).
func dropUnmaskableAsks(r *http.Request) (saved [len(unmaskableAsks)][]string) {
	for i, name := range unmaskableAsks {
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
// be masked (canonical form).
var unmaskableAsks = [...]string{"Accept-Encoding", "Range", "If-Range"}

// maskResponseWriter masks response bodies on their way to the client: every
// body except those of a declared binary type (binaryType). A compressed body
// is decoded first (gzip, deflate, zstd); an answer that cannot be masked (a
// 206, a body in another coding) is replaced by a 502 problem+json. 1xx, 204
// and 304 answers pass. It never implements io.ReaderFrom, so every byte
// goes through Write.
type maskResponseWriter struct {
	http.ResponseWriter
	m *inspect.Masker
	r *http.Request

	wroteHeader bool // the handler sent its header
	sentHeader  bool // the header went to the client
	active      bool // the body is masked
	refused     bool // the answer was replaced by a 502: the body is dropped
	buffering   bool
	status      int
	codings     []string // content codings to decode, in the order applied
	derived     [len(bodyDerivedHeaders)][]string
	buf         []byte
	mw          *inspect.MaskWriter
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
func classify(status int, h http.Header) (action maskAction, codings []string, ref *refusal) {
	switch status {
	case http.StatusNoContent, http.StatusNotModified:
		return maskPass, nil, nil
	case http.StatusPartialContent:
		// A part may begin or end inside a card or an address that only the
		// whole body shows: never masked, never passed.
		return maskRefuse, nil, refusePartial
	}
	if binaryType(h.Get("Content-Type")) {
		return maskPass, nil, nil
	}
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch c {
			case "", "identity":
			case "gzip", "x-gzip", "deflate", "zstd":
				codings = append(codings, c)
			default:
				return maskRefuse, nil, refuseEncoding
			}
		}
	}
	if len(codings) > maxCodings {
		return maskRefuse, nil, refuseEncoding
	}
	return maskBody, codings, nil
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
	action, codings, ref := classify(code, h)
	switch action {
	case maskPass:
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(code)
		return
	case maskRefuse:
		w.refuse(ref)
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
	w.mw = w.m.NewWriter(w.ResponseWriter)
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
// drops its body.
func (w *maskResponseWriter) refuse(ref *refusal) {
	w.refused, w.active, w.buffering, w.buf = true, false, false, nil
	h := w.Header()
	for _, name := range representationHeaders {
		h.Del(name)
	}
	recordDecision(w.r, "api_inspect", ref.reason)
	w.sentHeader = true
	_ = writeProblem(w.ResponseWriter, ref.status, ref.body)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
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
		out := w.m.Mask(w.buf)
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
			w.refuse(refuseEncoding)
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

// finishDecoding decodes a small compressed body held whole: a body that does
// not decode is refused, a small one is masked whole with its length, a
// large one streams.
func (w *maskResponseWriter) finishDecoding() error {
	w.buffering = false
	rd, release, err := decodeReader(w.codings, bytes.NewReader(w.buf))
	if err != nil {
		w.refuse(refuseEncoding)
		return nil
	}
	defer release()
	plain, err := io.ReadAll(io.LimitReader(rd, maskBufferLimit+1))
	if err != nil {
		w.refuse(refuseEncoding)
		return nil
	}
	if len(plain) <= maskBufferLimit {
		out := w.m.Mask(plain)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(w.status)
		_, err := w.ResponseWriter.Write(out)
		return err
	}
	w.sendHeader()
	if _, err := w.mw.Write(plain); err != nil {
		return err
	}
	if _, err := io.Copy(w.mw, rd); err != nil {
		return fmt.Errorf("decoding the upstream's answer: %w", err)
	}
	return w.mw.Close()
}

// decodeReader returns a reader of the body r decoded from the content
// codings listed (in the order they were applied), and a function that
// releases it.
func decodeReader(codings []string, r io.Reader) (io.Reader, func(), error) {
	var releases []func()
	release := func() {
		for _, f := range releases {
			f()
		}
	}
	for i := len(codings) - 1; i >= 0; i-- {
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if errors.Is(err, io.EOF) {
				return bytes.NewReader(nil), release, nil // an empty body
			}
			if err != nil {
				release()
				return nil, nil, err
			}
			r = zr
		case "deflate":
			r = deflateReader(r)
		case "zstd":
			// RFC 9659: a decoder need not accept windows over 8 MiB.
			zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(8<<20))
			if err != nil {
				release()
				return nil, nil, err
			}
			releases = append(releases, zr.Close)
			r = zr
		}
	}
	return r, release, nil
}

// deflateReader reads "deflate": the zlib format (RFC 9110), or the bare
// deflate data some servers send instead.
func deflateReader(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil {
		if len(head) == 0 && errors.Is(err, io.EOF) {
			return bytes.NewReader(nil) // an empty body
		}
		return flate.NewReader(br)
	}
	if head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		if zr, err := zlib.NewReader(br); err == nil {
			return zr
		}
	}
	return flate.NewReader(br)
}

// bodyDecoder decodes a compressed body as it streams, on a goroutine that
// runs in lock step with the handler: Write hands a chunk over and returns
// only once the goroutine has decoded and written out all it could and waits
// for more (or has ended), so the client's writer is never used by both at
// once and a flush between writes sees everything decoded so far.
type bodyDecoder struct {
	ctx  context.Context
	in   chan []byte   // compressed chunks; closed at the end of the body
	ack  chan struct{} // the goroutine took a chunk whole and waits for more
	done chan struct{} // the goroutine ended; err is set
	err  error

	cur   []byte // the goroutine's: the chunk it reads
	began bool
}

func startDecoder(ctx context.Context, codings []string, out io.Writer) *bodyDecoder {
	d := &bodyDecoder{ctx: ctx, in: make(chan []byte), ack: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run(codings, out)
	return d
}

func (d *bodyDecoder) run(codings []string, out io.Writer) {
	defer close(d.done)
	rd, release, err := decodeReader(codings, (*decoderSource)(d))
	if err != nil {
		d.err = err
		return
	}
	defer release()
	buf := make([]byte, 16<<10)
	for {
		n, rerr := rd.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				d.err = werr
				return
			}
		}
		if errors.Is(rerr, io.EOF) {
			return
		}
		if rerr != nil {
			d.err = rerr
			return
		}
	}
}

// Write hands p to the goroutine and waits until it has used it. Once the
// decoding has ended (the compressed data ended, or did not decode), what
// follows is dropped: finish reports the error.
func (d *bodyDecoder) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	select {
	case d.in <- p:
	case <-d.done:
		return len(p), nil
	}
	select {
	case <-d.ack:
	case <-d.done:
	}
	return len(p), nil
}

// failed returns the error the decoding ended with, if it ended.
func (d *bodyDecoder) failed() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Close ends the input and waits for the goroutine.
func (d *bodyDecoder) Close() error {
	close(d.in)
	<-d.done
	return d.err
}

// decoderSource is the goroutine's side of a bodyDecoder: the compressed
// body as a reader.
type decoderSource bodyDecoder

func (s *decoderSource) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.began {
			select {
			case s.ack <- struct{}{}:
			default: // an ack is pending already: the input has ended
			}
		}
		s.began = true
		select {
		case c, ok := <-s.in:
			if !ok {
				return 0, io.EOF
			}
			s.cur = c
		case <-s.ctx.Done():
			// The request ended without finish (a handler panicked).
			return 0, s.ctx.Err()
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}
