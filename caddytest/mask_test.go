package caddytest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// formsDoc is what the upstream of the response-form tests answers, in
// various forms; formsMasked is what the client must get.
const (
	formsDoc    = `{"card":"4111 1111 1111 1111","email":"mary@example.com","order":"1700000000000"}`
	formsMasked = `{"card":"**** **** **** 1111","email":"***@example.com","order":"1700000000000"}`
)

// formsETag is the ETag the upstream derives from formsDoc: a client that
// can test it tests a guess of the unmasked body.
var formsETag = fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(formsDoc)))

// formsUpstream answers formsDoc in the form each path names, whatever the
// request asked for.
func formsUpstream(t *testing.T) *Upstream {
	return StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/raw")
		encode := func(coding string, zw io.WriteCloser, buf *bytes.Buffer) {
			io.WriteString(zw, formsDoc)
			zw.Close()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", coding)
			if r.URL.Query().Has("length") {
				w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
			}
			w.Write(buf.Bytes())
		}
		var buf bytes.Buffer
		switch path {
		case "/file":
			// Honours Range, as a file server does.
			w.Header().Set("Content-Type", "application/json")
			http.ServeContent(w, r, "doc.json", time.Time{}, strings.NewReader(formsDoc))
		case "/etag":
			// An ETag derived from the body, and conditional requests
			// answered against it, as many frameworks do.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", formsETag)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(formsDoc))
		case "/partial":
			// Answers a part though none was asked for.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Range", "bytes 0-39/"+strconv.Itoa(len(formsDoc)))
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, formsDoc[:40])
		case "/notype":
			w.Header()["Content-Type"] = nil // and no sniffing
			io.WriteString(w, formsDoc)
		case "/escaped":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"card":"\u0034111 1111 1111 1111","email":"mary\u0040example.com","next":"/u?e=ann%40example.org"}`)
		case "/gzip":
			encode("gzip", gzip.NewWriter(&buf), &buf)
		case "/deflate":
			encode("deflate", zlib.NewWriter(&buf), &buf)
		case "/zstd":
			zw, _ := zstd.NewWriter(&buf)
			encode("zstd", zw, &buf)
		case "/br":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, formsDoc) // as good as brotli to a gateway that cannot read it
		default:
			http.NotFound(w, r)
		}
	})
}

// Every form of an answer the client can get is masked, or refused when it
// cannot be.
func TestInspectMaskResponseForms(t *testing.T) {
	up := formsUpstream(t)
	// /raw/* keeps Go's transport from asking for gzip and decoding it on its
	// own, so that the upstream's gzip reaches api_inspect.
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	api_inspect {
		mask card email
	}
	handle /raw/* {
		reverse_proxy {UPSTREAM} {
			transport http {
				compression off
			}
		}
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr)

	get := func(t *testing.T, path string, headers map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", g.URL(path), nil)
		// Set explicitly, so the client does not decode on its own.
		req.Header.Set("Accept-Encoding", "identity")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	read := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	t.Run("range", func(t *testing.T) {
		for _, h := range []map[string]string{
			{"Range": "bytes=9-40"},
			{"Range": "bytes=0-3,9-40"},
			{"Range": "bytes=9-40", "If-Range": `"x"`},
		} {
			resp := get(t, "/file", h)
			if body := read(resp); resp.StatusCode != 200 || body != formsMasked {
				t.Fatalf("%v: %d %q", h, resp.StatusCode, body)
			}
			if resp.Header.Get("Content-Range") != "" || resp.Header.Get("Accept-Ranges") != "" {
				t.Errorf("%v: Content-Range %q, Accept-Ranges %q", h, resp.Header.Get("Content-Range"), resp.Header.Get("Accept-Ranges"))
			}
		}
		for _, r := range up.Requests() {
			if r.Path == "/file" && (r.Header.Get("Range") != "" || r.Header.Get("If-Range") != "") {
				t.Errorf("the upstream got Range %q, If-Range %q", r.Header.Get("Range"), r.Header.Get("If-Range"))
			}
		}
	})

	t.Run("validators", func(t *testing.T) {
		// A 304 or a 412 would confirm a guess of the unmasked body.
		for _, h := range []map[string]string{
			nil, // a HEAD's ETag would let a client test guesses offline
			{"If-None-Match": formsETag},
			{"If-None-Match": "W/" + formsETag},
			{"If-Match": `"a-wrong-guess"`},
		} {
			for _, method := range []string{"GET", "HEAD"} {
				req, _ := http.NewRequest(method, g.URL("/etag"), nil)
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := read(resp)
				resp.Body.Close()
				if resp.StatusCode != 200 || method == "GET" && body != formsMasked || resp.Header.Get("ETag") != "" {
					t.Fatalf("%s %v: %d %q ETag %q", method, h, resp.StatusCode, body, resp.Header.Get("ETag"))
				}
			}
		}
	})

	t.Run("upstream 206", func(t *testing.T) {
		resp := get(t, "/partial", nil)
		body := read(resp)
		if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if strings.Contains(body, "1111 1111") || resp.Header.Get("Content-Range") != "" {
			t.Fatalf("the part passed: %q %q", resp.Header.Get("Content-Range"), body)
		}
	})

	t.Run("no content type", func(t *testing.T) {
		resp := get(t, "/notype", nil)
		if body := read(resp); resp.StatusCode != 200 || body != formsMasked {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})

	t.Run("escaped JSON", func(t *testing.T) {
		resp := get(t, "/escaped", nil)
		want := `{"card":"**** **** **** 1111","email":"***\u0040example.com","next":"/u?e=***%40example.org"}`
		if body := read(resp); resp.StatusCode != 200 || body != want {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})

	t.Run("compressed upstream", func(t *testing.T) {
		for _, path := range []string{"/raw/gzip", "/raw/gzip?length", "/deflate", "/deflate?length", "/zstd", "/zstd?length"} {
			resp := get(t, path, map[string]string{"Accept-Encoding": "gzip, deflate, zstd"})
			body := read(resp)
			if resp.StatusCode != 200 || body != formsMasked || resp.Header.Get("Content-Encoding") != "" {
				t.Fatalf("%s: %d %q %q", path, resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
			}
			if strings.HasSuffix(path, "?length") && resp.ContentLength != int64(len(formsMasked)) {
				t.Errorf("%s: Content-Length %d", path, resp.ContentLength)
			}
		}
	})

	t.Run("unreadable coding", func(t *testing.T) {
		resp := get(t, "/br", map[string]string{"Accept-Encoding": "br"})
		body := read(resp)
		if resp.StatusCode != 502 || resp.Header.Get("Content-Encoding") != "" || strings.Contains(body, "mary") {
			t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(body), &p); err != nil || p["status"] != float64(502) {
			t.Fatalf("not a problem: %q", body)
		}
	})
}

// Audit bodies are masked before they are cut: a key or a token across the
// cut is never logged in part.
func TestInspectAuditBodiesCutThroughKey(t *testing.T) {
	// The upstream answers with the body it got.
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, r.Body)
	})
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
	api_gateway {
		keys {
			grace 1h
		}
	}
	log default {
		output file {DIR}/caddy.log
		exclude http.handlers.api_inspect.audit
	}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
}

http://127.0.0.1:{PORT} {
	api_inspect {
		audit {
			bodies 64
		}
	}
	reverse_proxy {UPSTREAM}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	bodies := map[string]string{
		// Byte 64 falls inside the key's secret, then inside the token's
		// payload.
		"/key":   `{"note":"new key issued","key":"` + k.Key + `"}`,
		"/token": `{"note":"a token for you","t":"` + jwt + `"}`,
	}
	for path, body := range bodies {
		if s, _, b := g.Do("POST", path, map[string]string{"Content-Type": "application/json"}, body); s != 200 || b != body {
			t.Fatalf("%s: %d %q", path, s, b)
		}
	}
	var recs []map[string]any
	Eventually(t, 10*time.Second, "audit records", func() bool {
		recs = auditRecords(t, g)
		return findAudit(recs, "/key") != nil && findAudit(recs, "/token") != nil
	})
	secretParts := []string{k.ID, k.Key[len(k.Key)-38 : len(k.Key)-30], "eyJ", "hbGci", "c2lnbm"}
	for path := range bodies {
		r := findAudit(recs, path)
		for _, field := range []string{"request_body", "response_body"} {
			s, _ := r[field].(string)
			if len(s) > 64 || s == "" {
				t.Errorf("%s %s: %d bytes %q", path, field, len(s), s)
			}
			for _, part := range secretParts {
				if strings.Contains(s, part) {
					t.Errorf("%s %s holds %q: %q", path, field, part, s)
				}
			}
		}
		if path == "/key" && r["response_body"] != `{"note":"new key issued","key":"[redacted:api_key]"}` {
			t.Errorf("/key: response_body %q", r["response_body"])
		}
	}
	data, _ := os.ReadFile(filepath.Join(g.Dir, "audit.log"))
	if bytes.Contains(data, []byte(k.Key[:30])) {
		t.Errorf("the audit log holds the start of the key")
	}
}
