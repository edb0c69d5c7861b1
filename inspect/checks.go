package inspect

import (
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// checkRequest runs the request checks and returns the refusal of the first
// that fails (the zero refusal when the request passes). h receives what must
// live until the request is done: the held body and the reader that enforces
// min_upload_rate.
func (in *Inspect) checkRequest(w http.ResponseWriter, r *http.Request, rec *auditRecorder, h *held, start time.Time) refusal {
	if ref := in.checkTarget(r); ref.ans != nil {
		return ref
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return refusal{}
	}
	kind, coding, ref := in.checkBodyHeaders(r)
	if ref.ans != nil {
		return ref
	}
	if in.minRate > 0 {
		h.slow = newRateReader(w, r.Body, start, in.grace, in.minRate, in.gate.Reporting())
		r.Body = h.slow
	}
	// A body of known length within the limit, in no coding to decode,
	// needs holding only to be checked: Go's server enforces the announced
	// length.
	reads := kind != BodyOpaque || in.MaxBody > 0
	if kind == BodyOpaque && (!reads || coding == CodingIdentity && r.ContentLength > 0) {
		if rec != nil {
			r.Body = rec.countBody(r.Body)
		}
		return refusal{}
	}
	ref = in.holdBody(r, kind, coding, rec, h)
	if ref.ans == nil && h.slow != nil && h.slow.late {
		// Report mode: the body fell behind min_upload_rate, and was held
		// whole all the same.
		return in.refuse(in.ans.slow)
	}
	return ref
}

// checkTarget checks the request target and the method: the path as the
// client sent it, method overrides, and injection in the path's segments and
// the query.
func (in *Inspect) checkTarget(r *http.Request) refusal {
	if in.strict {
		if !(r.Method == http.MethodConnect && !strings.HasPrefix(r.RequestURI, "/")) {
			if prob := CheckPath(requestPath(r)); prob != PathOK {
				return in.refuse(in.ans.path[prob])
			}
		}
		if hasMethodOverride(r) {
			return in.refuse(in.ans.methodOverride)
		}
	}
	if in.detector.Enabled() {
		if inj := CheckPathSegments(r.URL.Path, in.detector); inj != nil {
			return in.injection(inj)
		}
		if inj := CheckQuery(r.URL.RawQuery, in.detector); inj != nil {
			return in.injection(inj)
		}
	}
	return refusal{}
}

// checkBodyHeaders checks what the headers say of a request body (its type,
// charset, length and content coding) and returns how the body is to be
// read.
func (in *Inspect) checkBodyHeaders(r *http.Request) (BodyKind, Coding, refusal) {
	// One Content-Type, or none: with two, the upstream may read the body
	// as the one this handler did not look at.
	contentTypes := r.Header["Content-Type"]
	mediaType, charset := "", ""
	if len(contentTypes) == 1 {
		if mt, params, err := mime.ParseMediaType(contentTypes[0]); err == nil {
			mediaType, charset = mt, params["charset"]
		}
	}
	if len(in.contentTypes) > 0 && (len(contentTypes) > 1 || !in.typeAllowed(mediaType)) {
		return 0, 0, in.refuse(in.ans.unsupported)
	}
	if in.MaxBody > 0 && r.ContentLength > in.MaxBody {
		return 0, 0, in.refuse(in.ans.tooLarge)
	}
	kind := BodyOpaque
	switch {
	case isJSONType(mediaType) && (in.jsonDepth > 0 || in.strict):
		// Checked with json_depth; read for a _method member with strict
		// paths.
		kind = BodyJSON
	case mediaType == "application/x-www-form-urlencoded" && (in.detector.Enabled() || in.strict):
		// Scanned with block; read for _method fields with strict paths.
		kind = BodyForm
	}
	switch {
	case kind == BodyOpaque && in.detector.Enabled():
		// block reads every body or refuses it: text/plain, multipart and
		// the rest may hold what an upstream parses anyway.
		return 0, 0, in.refuse(in.ans.unscanned)
	case len(contentTypes) > 1 && in.strict:
		return 0, 0, in.refuse(in.ans.unsupported)
	case kind != BodyOpaque && charset != "" && !isUTF8Charset(charset):
		// The checks read UTF-8; an upstream that decodes another charset
		// would read what they did not.
		return 0, 0, in.refuse(in.ans.charset)
	}
	coding := CodingIdentity
	if _, ok := r.Header["Content-Encoding"]; ok {
		coding = ParseContentEncoding(r.Header.Values("Content-Encoding"))
	}
	if (kind != BodyOpaque || in.MaxBody > 0) && coding == CodingUnsupported {
		return 0, 0, in.refuse(in.ans.coding)
	}
	return kind, coding, refusal{}
}

// hasMethodOverride reports whether a request asks to be taken for another
// method, in a header or the query.
func hasMethodOverride(r *http.Request) bool {
	for _, h := range MethodOverrideHeaders {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return r.URL.RawQuery != "" && QueryHasMethodOverride(r.URL.RawQuery)
}

func isUTF8Charset(cs string) bool {
	return strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8") || strings.EqualFold(cs, "us-ascii")
}

// requestPath returns the path of the request target as the client sent it,
// still encoded.
func requestPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		return r.URL.EscapedPath()
	}
	if uri[0] != '/' && uri != "*" {
		// Absolute form (a proxy request): take the path part.
		u, err := url.Parse(uri)
		if err != nil {
			return uri
		}
		if u.RawPath != "" {
			return u.RawPath
		}
		return u.EscapedPath()
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

func (in *Inspect) typeAllowed(mediaType string) bool {
	if mediaType == "" {
		return false
	}
	for _, pattern := range in.contentTypes {
		if ok, _ := path.Match(pattern, mediaType); ok {
			return true
		}
	}
	return false
}

func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}
