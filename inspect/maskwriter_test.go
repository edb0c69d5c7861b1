package inspect

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/klauspost/compress/zstd"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// compress encodes b with the content codings listed, in order.
func compress(t testing.TB, b []byte, codings ...string) []byte {
	t.Helper()
	for _, c := range codings {
		var out bytes.Buffer
		var w io.WriteCloser
		switch c {
		case "gzip":
			w = gzip.NewWriter(&out)
		case "deflate":
			w = zlib.NewWriter(&out)
		case "raw-deflate":
			w, _ = flate.NewWriter(&out, flate.DefaultCompression)
		case "zstd":
			w, _ = zstd.NewWriter(&out)
		default:
			t.Fatalf("coding %s", c)
		}
		w.Write(b) //nolint:errcheck
		w.Close()  //nolint:errcheck
		b = out.Bytes()
	}
	return b
}

// maskedDoc returns a JSON document of about n bytes with a card and an
// e-mail address in each record, and what masking makes of it.
func maskedDoc(n int) (plain, masked string) {
	var p, m strings.Builder
	for i := 0; p.Len() < n; i++ {
		p.WriteString(`{"i":` + strconv.Itoa(i) + `,"card":"4111 1111 1111 1111","email":"ann@example.com"}` + "\n")
		m.WriteString(`{"i":` + strconv.Itoa(i) + `,"card":"**** **** **** 1111","email":"***@example.com"}` + "\n")
	}
	return p.String(), m.String()
}

func TestMaskDecodesCompressedAnswers(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true, Email: true}})
	for _, size := range []int{100, 200 << 10} {
		plain, want := maskedDoc(size)
		for _, c := range []struct{ header, codings string }{
			{"gzip", "gzip"}, {"x-gzip", "gzip"}, {"deflate", "deflate"}, {"deflate", "raw-deflate"},
			{"zstd", "zstd"}, {"GZIP", "gzip"}, {"gzip, zstd", "gzip zstd"}, {"identity, gzip", "gzip"},
		} {
			body := compress(t, []byte(plain), strings.Fields(c.codings)...)
			for _, announced := range []bool{true, false} {
				w := httptest.NewRecorder()
				next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					w.Header().Set("Content-Type", "application/x-ndjson")
					w.Header().Set("Content-Encoding", c.header)
					if announced {
						w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					}
					for i := 0; i < len(body); i += 1000 {
						w.Write(body[i:min(i+1000, len(body))]) //nolint:errcheck
					}
					return nil
				})
				if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/x", "", ""), next); err != nil {
					t.Fatal(err)
				}
				name := c.header + "/" + c.codings + "/" + strconv.Itoa(size)
				if w.Code != 200 || w.Body.String() != want {
					t.Fatalf("%s (announced %v): %d %.200q", name, announced, w.Code, w.Body.String())
				}
				if w.Header().Get("Content-Encoding") != "" {
					t.Errorf("%s: Content-Encoding %q", name, w.Header().Get("Content-Encoding"))
				}
				cl := w.Header().Get("Content-Length")
				if small := announced && len(plain) <= maskBufferLimit; small && cl != strconv.Itoa(len(want)) || !small && cl != "" {
					t.Errorf("%s (announced %v): Content-Length %q for %d bytes", name, announced, cl, len(want))
				}
			}
		}
	}
}

// An answer that cannot be masked is replaced by a 502, recorded as
// api_inspect's decision.
func TestMaskRefusesWhatItCannotRead(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true, Email: true}})
	gz := compress(t, []byte(`{"email":"ann@example.com"}`), "gzip")
	for _, c := range []struct {
		name, reason string
		status       int
		header       map[string]string
		body         []byte
	}{
		{"partial", "response_partial", 206, map[string]string{"Content-Range": "bytes 0-9/100", "Content-Type": "application/json"}, []byte(`{"email":"ann@example.com"}`)},
		{"partial binary", "response_partial", 206, map[string]string{"Content-Type": "application/octet-stream"}, []byte(`ann@example.com`)},
		{"brotli", "response_encoding", 200, map[string]string{"Content-Encoding": "br"}, []byte(`ann@example.com`)},
		{"compress", "response_encoding", 200, map[string]string{"Content-Encoding": "compress"}, []byte(`ann@example.com`)},
		{"br after gzip", "response_encoding", 200, map[string]string{"Content-Encoding": "gzip, br"}, gz},
		{"too many", "response_encoding", 200, map[string]string{"Content-Encoding": "gzip, gzip, gzip, gzip"}, gz},
		{"not gzip, announced", "response_encoding", 200, map[string]string{"Content-Encoding": "gzip", "Content-Length": "15"}, []byte(`ann@example.com`)},
		{"not gzip, streamed", "response_encoding", 200, map[string]string{"Content-Encoding": "gzip"}, []byte(`ann@example.com`)},
		{"not zstd", "response_encoding", 200, map[string]string{"Content-Encoding": "zstd"}, []byte(`ann@example.com`)},
	} {
		w := httptest.NewRecorder()
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			for k, v := range c.header {
				w.Header().Set(k, v)
			}
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(c.status)
			w.Write(c.body) //nolint:errcheck
			return nil
		})
		r := newInspectRequest(context.Background(), "GET", "/x", "", "")
		if err := in.ServeHTTP(w, r, next); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var p struct{ Status int }
		if w.Code != 502 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 502 {
			t.Errorf("%s: %d %q", c.name, w.Code, w.Body.String())
		}
		if strings.Contains(w.Body.String(), "ann@") {
			t.Errorf("%s: the body passed", c.name)
		}
		for _, h := range []string{"Content-Range", "Content-Encoding", "ETag"} {
			if w.Header().Get(h) != "" {
				t.Errorf("%s: %s %q kept", c.name, h, w.Header().Get(h))
			}
		}
		if w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", c.name, w.Header().Get("Content-Type"))
		}
		if d, ok := gateway.DecisionFrom(r); !ok || d.Handler != "api_inspect" || d.Reason != c.reason {
			t.Errorf("%s: decision %+v", c.name, d)
		}
	}
}

// A body that stops decoding once part of it is out aborts the answer.
func TestMaskDecodeErrorAfterOutput(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Email: true}})
	plain, _ := maskedDoc(300 << 10)
	gz := compress(t, []byte(plain), "gzip")
	bad := append(bytes.Clone(gz), bytes.Repeat([]byte("x"), 8<<10)...)
	var werr error
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Encoding", "gzip")
		for i := 0; i < len(bad) && werr == nil; i += 4096 {
			_, werr = w.Write(bad[i:min(i+4096, len(bad))])
		}
		return nil
	})
	in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/x", "", ""), next) //nolint:errcheck
	if werr == nil {
		t.Fatal("no write error for a body that stopped decoding")
	}
	if strings.Contains(w.Body.String(), "ann@") {
		t.Fatal("an address passed unmasked")
	}

	// A body cut short: what decoded went out masked, and the error is
	// returned.
	w = httptest.NewRecorder()
	next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Encoding", "gzip")
		_, err := w.Write(gz[:len(gz)-12])
		return err
	})
	if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/x", "", ""), next); err == nil {
		t.Fatal("no error for a body cut short")
	}
	if strings.Contains(w.Body.String(), "ann@") || !strings.Contains(w.Body.String(), "***@example.com") {
		t.Fatalf("body %.100q", w.Body.String())
	}
}

// A compressed stream keeps streaming: what was decoded reaches the client
// at each flush.
func TestMaskDecodeKeepsStreaming(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true, Email: true}})
	w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	events := []string{"data: {\"card\":\"4111 1111 1111 1111\"}\n\n", "data: {\"email\":\"bob@example.com\"}\n\n"}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		rc.Flush() //nolint:errcheck
		zw := gzip.NewWriter(w)
		for _, e := range events {
			io.WriteString(zw, e) //nolint:errcheck
			zw.Flush()            //nolint:errcheck
			rc.Flush()            //nolint:errcheck
		}
		return zw.Close()
	})
	if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/events", "", ""), next); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"card\":\"**** **** **** 1111\"}\n\ndata: {\"email\":\"***@example.com\"}\n\n"
	if w.Body.String() != want || w.Header().Get("Content-Encoding") != "" {
		t.Fatalf("body %q, Content-Encoding %q", w.Body.String(), w.Header().Get("Content-Encoding"))
	}
	// The header went out at the first flush, each event at its own.
	if len(w.atFlush) != 3 || w.atFlush[0] != "" || w.atFlush[1] != "data: {\"card\":\"**** **** **** 1111\"}\n\n" || w.atFlush[2] != want {
		t.Fatalf("at each flush: %q", w.atFlush)
	}
}

// The request passed on asks for a whole, uncompressed body; the client's
// headers are back once the handlers are done.
func TestMaskAsksForWholeBodies(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true}})
	// A PUT keeps the If-Match that guards its write.
	put := newInspectRequest(context.Background(), "PUT", "/x", "", "")
	put.Header.Set("If-Match", `"v1"`)
	put.Header.Set("Range", "bytes=0-10")
	if err := in.ServeHTTP(httptest.NewRecorder(), put, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("If-Match") != `"v1"` || r.Header.Get("Range") != "" {
			t.Errorf("PUT: the next handler saw %v", r.Header)
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	r := newInspectRequest(context.Background(), "GET", "/x", "", "")
	r.Header.Set("Range", "bytes=0-10")
	r.Header.Set("If-Range", `"v1"`)
	r.Header.Set("If-None-Match", `"v1"`)
	r.Header.Set("If-Match", `"v1"`)
	r.Header.Set("Accept-Encoding", "gzip, br")
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"card":"4111111111111111"}`) //nolint:errcheck
		return nil
	})
	w := httptest.NewRecorder()
	if err := in.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Range", "If-Range", "Accept-Encoding", "If-None-Match", "If-Match"} {
		if _, ok := seen[h]; ok {
			t.Errorf("the next handler saw %s", h)
		}
	}
	if w.Code != 200 || w.Body.String() != `{"card":"************1111"}` {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
	if r.Header.Get("Range") != "bytes=0-10" || r.Header.Get("Accept-Encoding") != "gzip, br" {
		t.Errorf("headers not restored: %v", r.Header)
	}
}

// A HEAD's answer and a 304 have no body to mask, but their headers describe
// the unmasked one: its validators and digests go (and a HEAD's length and
// coding), except for binary types, which are not masked.
func TestMaskBodylessAnswers(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true}})
	for _, c := range []struct {
		method, ctype string
		status        int
		kept, gone    []string
	}{
		{"HEAD", "application/json", 200, nil, []string{"Etag", "Content-Digest", "Content-Length", "Content-Encoding", "Accept-Ranges"}},
		{"HEAD", "", 200, nil, []string{"Etag", "Content-Length"}},
		{"HEAD", "image/png", 200, []string{"Etag", "Content-Length", "Accept-Ranges"}, nil},
		{"GET", "", 304, []string{"Cache-Control"}, []string{"Etag", "Content-Digest"}},
		{"HEAD", "application/json", 204, []string{"Etag"}, nil},
	} {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			h := w.Header()
			if c.ctype != "" {
				h.Set("Content-Type", c.ctype)
			}
			for _, name := range []string{"Etag", "Content-Digest", "Accept-Ranges", "Cache-Control"} {
				h.Set(name, "x")
			}
			h.Set("Content-Length", "27")
			if c.ctype != "image/png" {
				h.Set("Content-Encoding", "gzip")
			}
			w.WriteHeader(c.status)
			return nil
		})
		w := httptest.NewRecorder()
		if err := in.ServeHTTP(w, newInspectRequest(context.Background(), c.method, "/x", "", ""), next); err != nil {
			t.Fatal(err)
		}
		name := c.method + " " + strconv.Itoa(c.status) + " " + c.ctype
		if w.Code != c.status {
			t.Errorf("%s: %d", name, w.Code)
		}
		for _, h := range c.kept {
			if w.Header().Get(h) == "" {
				t.Errorf("%s: %s removed", name, h)
			}
		}
		for _, h := range c.gone {
			if w.Header().Get(h) != "" {
				t.Errorf("%s: %s kept", name, h)
			}
		}
	}
}

// Validators and digests of the upstream's body go with a masked answer
// (they would let a client test guesses of what was masked), and stay when
// there was nothing to mask.
func TestMaskDropsBodyDerivedHeaders(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true}})
	for _, c := range []struct {
		body string
		kept bool
	}{
		{`{"card":"4111111111111111"}`, false},
		{`{"card":"none"}`, true},
		{`{"card":"4111111111111111","p":"` + strings.Repeat("x", maskBufferLimit) + `"}`, false},
	} {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"sha1-of-the-body"`)
			w.Header().Set("Content-Digest", "sha-256=:x:")
			w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
			w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
			io.WriteString(w, c.body) //nolint:errcheck
			return nil
		})
		w := httptest.NewRecorder()
		if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/x", "", ""), next); err != nil {
			t.Fatal(err)
		}
		h := w.Header()
		if kept := h.Get("ETag") == `"sha1-of-the-body"` && h.Get("Content-Digest") != ""; kept != c.kept || !c.kept && (h.Get("ETag") != "" || h.Get("Content-Digest") != "") {
			t.Errorf("%.40s: ETag %q, Content-Digest %q", c.body, h.Get("ETag"), h.Get("Content-Digest"))
		}
		if h.Get("Last-Modified") == "" {
			t.Errorf("%.40s: Last-Modified dropped", c.body)
		}
	}
}

func TestMaskClassify(t *testing.T) {
	for _, c := range []struct {
		status   int
		ctype    string
		encoding string
		want     maskAction
	}{
		{200, "application/json", "", maskBody},
		{200, "", "", maskBody},
		{200, "application/xml", "", maskBody},
		{200, "application/javascript", "", maskBody},
		{200, "multipart/mixed; boundary=x", "", maskBody},
		{200, ";;;", "", maskBody},
		{200, "image/png", "br", maskPass},
		{200, "video/mp4", "", maskPass},
		{200, "application/grpc+proto", "", maskPass},
		{200, "application/octet-stream", "", maskPass},
		{204, "application/json", "br", maskPass},
		{304, "application/json", "br", maskPass},
		{206, "application/json", "", maskRefuse},
		{206, "video/mp4", "", maskRefuse},
		{200, "application/json", "br", maskRefuse},
		{200, "application/json", "gzip,,identity", maskBody},
		{200, "text/plain", "gzip, zstd, deflate", maskBody},
		{200, "text/plain", "gzip, zstd, deflate, gzip", maskRefuse},
	} {
		h := http.Header{}
		if c.ctype != "" {
			h.Set("Content-Type", c.ctype)
		}
		if c.encoding != "" {
			h.Set("Content-Encoding", c.encoding)
		}
		if got, _, _ := classify(c.status, h); got != c.want {
			t.Errorf("%d %q %q: %v, want %v", c.status, c.ctype, c.encoding, got, c.want)
		}
	}
}

// FuzzMaskResponse: whatever an upstream answers (any Content-Encoding and
// Content-Type, any bytes, announced or streamed in pieces), the client never
// gets a readable, unmasked e-mail address: the answer is masked, refused
// with a 502, or passed as a declared binary type.
func FuzzMaskResponse(f *testing.F) {
	doc := []byte(`{"email":"ann@example.com","card":"4111 1111 1111 1111"}`)
	gz := compress(f, doc, "gzip")
	f.Add("gzip", "application/json", true, uint8(7), gz)
	f.Add("gzip", "", false, uint8(0), append(append([]byte{}, gz...), doc...))
	f.Add("deflate", "text/plain", false, uint8(3), compress(f, doc, "raw-deflate"))
	f.Add("zstd, gzip", "", true, uint8(1), compress(f, doc, "zstd", "gzip"))
	f.Add("identity", "application/json", false, uint8(2), doc)
	f.Add("x-gzip", "text/html", false, uint8(5), doc)
	f.Add("", "image/svg+xml", true, uint8(0), doc)
	in := provisionInspect(f, &Inspect{Mask: &MaskConfig{Email: true}})
	f.Fuzz(func(t *testing.T, coding, ctype string, announced bool, piece uint8, body []byte) {
		w := httptest.NewRecorder()
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", ctype)
			if coding != "" {
				w.Header().Set("Content-Encoding", coding)
			}
			if announced {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			n := int(piece) + 1
			for i := 0; i < len(body); i += n {
				if _, err := w.Write(body[i:min(i+n, len(body))]); err != nil {
					return nil
				}
			}
			return nil
		})
		if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/x", "", ""), next); err != nil {
			return // the handler chain's error: Caddy answers it
		}
		out := w.Body.Bytes()
		if w.Code == http.StatusBadGateway || binaryType(ctype) || len(out) == 0 {
			return
		}
		for _, v := range w.Header().Values("Content-Encoding") {
			for c := range strings.SplitSeq(v, ",") {
				if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
					t.Fatalf("Content-Encoding %q passed (upstream %q)", v, coding)
				}
			}
		}
		if bytes.Count(out, []byte("ann@example.com")) > 0 {
			t.Fatalf("unmasked address in %q (coding %q, type %q)", out, coding, ctype)
		}
	})
}
