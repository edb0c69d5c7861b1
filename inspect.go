package apigate

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/inspect"
)

// Inspect is the api_inspect handler: it checks what consumers send before
// any other handler of the plugin runs, masks sensitive data in what they get
// back, and writes one audit record per request.
//
// Request checks run on a stream with bounded memory. A request body that
// must be checked is held while it is read (in memory up to 64 KiB, in an
// unlinked temporary file beyond) and handed to the next handler only once it
// passed, so the upstream never sees a refused request.
//
// Refusals are RFC 9457 problem+json answers: 400 for a path that is not
// clean, a method override, malformed or too deep JSON or malformed UTF-8,
// 408 for a body slower than min_upload_rate, 413 for a body over max_body,
// 415 for a body of a type, charset or content coding not accepted, 403 for
// a payload that looks like SQL injection or cross-site scripting (naming
// where, never echoing it).
type Inspect struct {
	// MaxBody is the largest request body allowed, in bytes: larger bodies are
	// answered 413, whether they announce their length or are sent chunked.
	// A compressed body (Content-Encoding gzip or deflate) is decoded, and
	// passed on decoded, so the limit holds for the bytes the upstream reads;
	// other codings are answered 415. Default: 0 (no limit), except that a
	// body held for checking (JSON or form with json_depth, block or strict
	// paths) may be at most 32 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// MinUploadRate is the slowest a request body may arrive, in bytes a
	// second, after UploadGrace: a body behind that pace is answered 408 and
	// its connection closed, so a client that trickles its body cannot hold a
	// connection. Default: 10000 (10 kB/s) when MaxBody is set, else off; a
	// negative value turns it off.
	MinUploadRate int64 `json:"min_upload_rate,omitempty"`

	// UploadGrace is how long a request body may take before MinUploadRate
	// applies. Default: 10s.
	UploadGrace caddy.Duration `json:"upload_grace,omitempty"`

	// JSONDepth is the deepest nesting allowed in a JSON request body; JSON
	// bodies (application/json, application/*+json) that are nested deeper or
	// are not well-formed are answered 400. Default: 0 (JSON bodies are not
	// checked, unless Block is set, which checks them with a depth of 512).
	JSONDepth int `json:"json_depth,omitempty"`

	// ContentTypes lists the media types a request body may have (patterns as
	// in Go's path.Match: `application/json`, `application/*+json`, `text/*`);
	// requests with a body of another type, or none, or with more than one
	// Content-Type, are answered 415. Default: any type.
	ContentTypes []string `json:"content_types,omitempty"`

	// Block lists the attacks to refuse with 403: `sqli` and `xss`, detected
	// with libinjection in query values, path segments, URL-encoded form values
	// and JSON string values. With Block, every request body is read or
	// refused: bodies other than JSON and URL-encoded forms (text/plain and
	// multipart included), bodies in a charset other than UTF-8 and bodies in
	// a content coding other than gzip and deflate are answered 415, and
	// malformed UTF-8 400. Default: none.
	Block []string `json:"block,omitempty"`

	// Paths is `strict` or `off`. Strict answers 400 to request paths with an
	// encoded slash, a dot segment, an empty segment (//), a backslash, a NUL
	// or control character, a malformed or double escape, a path parameter
	// (';', also encoded), a segment ending in a dot or a space, or bytes
	// that do not decode to UTF-8, so the path Caddy routes on is the path
	// the upstream gets; and 400 to method overrides (the headers
	// X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, a `_method`
	// query parameter or URL-encoded form field), so the method Caddy routes
	// on is the method the upstream runs. Default: strict.
	Paths string `json:"paths,omitempty"`

	// Mask masks sensitive data in response bodies: every body but those of
	// a binary type (images, audio, video, fonts, archives, octet-stream,
	// protobuf, gRPC...), found also through JSON, percent and HTML escapes.
	// Compressed bodies are decoded (gzip, deflate, zstd); partial content and
	// other codings are answered 502. Default: no masking.
	Mask *MaskConfig `json:"mask,omitempty"`

	// Audit, when present, writes one structured record per request to the
	// logger http.handlers.api_inspect.audit. Default: off.
	Audit *AuditConfig `json:"audit,omitempty"`

	masker      *inspect.Masker
	auditMasker *inspect.Masker
	detector    inspect.Detector
	jsonDepth   int
	strict      bool
	minRate     int64
	grace       time.Duration
	logger      *zap.Logger
	audit       *zap.Logger
	checkers    *sync.Pool

	mAllowed prometheus.Counter
	mOutcome map[string]prometheus.Counter
	mLatency prometheus.Observer
}

// MaskConfig selects what api_inspect masks in responses.
type MaskConfig struct {
	// Card masks payment card numbers (13 to 19 digits, grouped or not, that
	// pass the Luhn check): all digits but the last four become '*'.
	Card bool `json:"card,omitempty"`
	// Email masks e-mail addresses: the local part becomes "***".
	Email bool `json:"email,omitempty"`
	// Regex are custom rules: each match becomes "[redacted:<name>]".
	Regex []MaskRegex `json:"regex,omitempty"`
}

// MaskRegex is a custom masking rule.
type MaskRegex struct {
	// Name names the rule in the replacement: letters, digits, '_', '-', '.'.
	Name string `json:"name"`
	// Pattern is a Go regular expression (RE2 syntax). Matches should stay
	// within a line and under 4 KiB.
	Pattern string `json:"pattern"`
}

// AuditConfig configures the audit records.
type AuditConfig struct {
	// Bodies is how many bytes of the request and response bodies each
	// record carries, masked before they are cut (with the mask rules, or card
	// and email when none are set, and always API keys and JWTs) and cut
	// before a word, never through a key or token. Default: 0 (no bodies).
	Bodies int64 `json:"bodies,omitempty"`
}

const (
	// defaultScanDepth limits JSON nesting when bodies are scanned without
	// a json_depth: the checker keeps one frame per level.
	defaultScanDepth = 512
	// spoolMemory is how much of a held request body stays in memory.
	spoolMemory = 64 << 10
	// readChunk is the size of the reads of a request body.
	readChunk = 32 << 10
	// defaultMinUploadRate and defaultUploadGrace apply when max_body is set.
	defaultMinUploadRate = 10_000
	defaultUploadGrace   = 10 * time.Second
)

// inspectReasons are the outcomes of api_inspect's refusals.
var inspectReasons = func() []string {
	r := []string{
		"body_too_large", "unsupported_media_type", "malformed_json", "json_too_deep", "body_unreadable",
		"sqli", "xss", "method_override", "malformed_utf8", "unsupported_charset", "unsupported_encoding",
		"body_undecodable", "body_timeout",
	}
	for _, p := range inspect.PathProblems {
		r = append(r, string(p))
	}
	return r
}()

// Answers that do not depend on the request.
var (
	bodyTooLarge      = problemBody(http.StatusRequestEntityTooLarge, "the request body is larger than this API accepts")
	bodyUnsupported   = problemBody(http.StatusUnsupportedMediaType, "this API does not accept request bodies of this content type")
	bodyMalformedJSON = problemBody(http.StatusBadRequest, "the request body is not well-formed JSON")
	bodyTooDeepJSON   = problemBody(http.StatusBadRequest, "the request body's JSON is nested deeper than this API accepts")
	bodyUnreadable    = problemBody(http.StatusBadRequest, "the request body could not be read to its end")
	bodyUnscanned     = problemBody(http.StatusUnsupportedMediaType, "this API reads every request body: send JSON or a URL-encoded form, with one Content-Type")
	bodyCharset       = problemBody(http.StatusUnsupportedMediaType, "this API accepts request bodies in UTF-8 only")
	bodyCoding        = problemBody(http.StatusUnsupportedMediaType, "this API does not accept request bodies in this content coding (gzip and deflate are accepted)")
	bodyUndecodable   = problemBody(http.StatusBadRequest, "the request body does not decode in its content coding")
	bodyMalformedUTF8 = problemBody(http.StatusBadRequest, "the request body is not well-formed UTF-8")
	bodyMethodOver    = problemBody(http.StatusBadRequest, "this API does not accept method overrides (X-HTTP-Method-Override, _method): send the method itself")
	bodySlow          = problemBody(http.StatusRequestTimeout, "the request body arrived too slowly")
	bodyPathProblems  = func() map[inspect.PathProblem][]byte {
		m := map[inspect.PathProblem][]byte{}
		for _, p := range inspect.PathProblems {
			m[p] = problemBody(http.StatusBadRequest, "the request path is not acceptable: "+p.Describe())
		}
		return m
	}()
)

// CaddyModule returns the Caddy module information.
func (Inspect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_inspect",
		New: func() caddy.Module { return new(Inspect) },
	}
}

// Provision compiles the checks and the masking rules.
func (in *Inspect) Provision(ctx caddy.Context) error {
	in.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	in.mAllowed = decisions.WithLabelValues("api_inspect", "allowed")
	in.mOutcome = make(map[string]prometheus.Counter, len(inspectReasons))
	for _, r := range inspectReasons {
		in.mOutcome[r] = decisions.WithLabelValues("api_inspect", r)
	}
	in.mLatency = handlerDuration.WithLabelValues("api_inspect")

	in.strict = in.Paths == "" || in.Paths == "strict"
	for i, ct := range in.ContentTypes {
		in.ContentTypes[i] = strings.ToLower(ct)
	}
	for _, b := range in.Block {
		switch b {
		case "sqli":
			in.detector.SQLi = true
		case "xss":
			in.detector.XSS = true
		}
	}
	in.jsonDepth = in.JSONDepth
	if in.jsonDepth == 0 && in.detector.Enabled() {
		in.jsonDepth = defaultScanDepth
	}
	in.minRate = in.MinUploadRate
	if in.minRate == 0 && in.MaxBody > 0 {
		in.minRate = defaultMinUploadRate
	}
	in.grace = time.Duration(in.UploadGrace)
	if in.grace == 0 {
		in.grace = defaultUploadGrace
	}
	if in.Mask != nil {
		m, err := inspect.NewMasker(in.Mask.toInspect())
		if err != nil {
			return err
		}
		if m.Enabled() {
			in.masker = m
		}
	}
	if in.Audit != nil {
		in.audit = in.logger.Named("audit")
		if in.Audit.Bodies > 0 {
			// Recorded bodies are masked with the route's rules (cards and
			// e-mails without any), and always for credentials: the gateway's
			// API keys (api_key_rotate answers with one) and JWTs.
			cfg := inspect.MaskConfig{Card: true, Email: true}
			if in.Mask != nil {
				cfg = in.Mask.toInspect()
			}
			cfg.Regex = append(cfg.Regex,
				// The key format with any prefix: <prefix>_<id>_<secret><checksum>.
				inspect.MaskRule{Name: "api_key", Pattern: `[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}`},
				inspect.MaskRule{Name: "jwt", Pattern: `eyJ[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]*`},
			)
			m, err := inspect.NewMasker(cfg)
			if err != nil {
				return fmt.Errorf("audit masker: %w", err)
			}
			in.auditMasker = m
		}
	}
	depth, det, strict := in.jsonDepth, in.detector, in.strict
	in.checkers = &sync.Pool{New: func() any { return &inspect.BodyChecker{MaxDepth: depth, Detector: det, RefuseOverride: strict} }}
	return nil
}

func (mc *MaskConfig) toInspect() inspect.MaskConfig {
	cfg := inspect.MaskConfig{Card: mc.Card, Email: mc.Email}
	for _, r := range mc.Regex {
		cfg.Regex = append(cfg.Regex, inspect.MaskRule{Name: r.Name, Pattern: r.Pattern})
	}
	return cfg
}

// Validate checks the configuration.
func (in *Inspect) Validate() error {
	if in.MaxBody < 0 {
		return fmt.Errorf("max_body must not be negative")
	}
	if in.JSONDepth < 0 {
		return fmt.Errorf("json_depth must not be negative")
	}
	if in.UploadGrace < 0 {
		return fmt.Errorf("upload_grace must not be negative")
	}
	if in.Paths != "" && in.Paths != "strict" && in.Paths != "off" {
		return fmt.Errorf("paths must be strict or off, not %q", in.Paths)
	}
	for _, b := range in.Block {
		if b != "sqli" && b != "xss" {
			return fmt.Errorf("block: unknown attack %q (want sqli, xss)", b)
		}
	}
	for _, ct := range in.ContentTypes {
		if _, err := path.Match(ct, "x/y"); err != nil || !strings.Contains(ct, "/") {
			return fmt.Errorf("content_types: %q is not a media type or pattern", ct)
		}
	}
	if in.Audit != nil && in.Audit.Bodies < 0 {
		return fmt.Errorf("audit: bodies must not be negative")
	}
	return nil
}

// refusal is a request api_inspect refused.
type refusal struct {
	status int
	reason string
	body   []byte
}

func (in *Inspect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	var rec *auditRecorder
	if in.audit != nil {
		rec = newAuditRecorder(w, in.Audit.Bodies)
		w = rec
	}
	cleanup, slow, ref := in.checkRequest(w, r, rec, start)
	if cleanup != nil {
		defer cleanup()
	}
	if slow != nil {
		defer slow.release()
	}
	var err error
	if ref != nil {
		in.mLatency.Observe(time.Since(start).Seconds())
		if c := in.mOutcome[ref.reason]; c != nil {
			c.Inc()
		}
		recordDecision(r, "api_inspect", ref.reason)
		if ref.status == http.StatusRequestEntityTooLarge || ref.status == http.StatusRequestTimeout {
			// Do not read the rest of a body too large or too slow to accept.
			w.Header().Set("Connection", "close")
		}
		err = writeProblem(w, ref.status, ref.body)
	} else {
		in.mAllowed.Inc()
		in.mLatency.Observe(time.Since(start).Seconds())
		var mw *maskResponseWriter
		var asks [len(unmaskableAsks)][]string
		out := w
		if in.masker != nil && r.Method != http.MethodHead {
			mw = &maskResponseWriter{ResponseWriter: w, m: in.masker, r: r}
			out = mw
			asks = dropUnmaskableAsks(r)
		}
		var sw *slowBodyWriter
		if slow != nil && !slow.ended {
			sw = slow.answerFor(out)
			out = sw
		}
		err = next.ServeHTTP(out, r)
		if mw != nil {
			restoreUnmaskableAsks(r, asks)
			if ferr := mw.finish(); err == nil && ferr != nil {
				err = ferr
			}
		}
		if sw != nil && slow.timedOut {
			// A body passed on as it streamed fell behind min_upload_rate
			// while the next handler read it: the failure is the client's.
			if err != nil {
				sw.answer()
			}
			if sw.answered {
				err = sw.err
				if c := in.mOutcome["body_timeout"]; c != nil {
					c.Inc()
				}
				recordDecision(r, "api_inspect", "body_timeout")
			}
		}
	}
	annotateSpan(r)
	if rec != nil {
		in.writeAudit(r, rec, start, err)
	}
	return err
}

// checkRequest runs the request checks. cleanup, when not nil, releases the
// held body once the request is done; slow, when not nil, is the reader that
// enforces min_upload_rate on the body.
func (in *Inspect) checkRequest(w http.ResponseWriter, r *http.Request, rec *auditRecorder, start time.Time) (cleanup func(), slow *rateReader, ref *refusal) {
	if in.strict {
		if !(r.Method == http.MethodConnect && !strings.HasPrefix(r.RequestURI, "/")) {
			if prob := inspect.CheckPath(requestPath(r)); prob != inspect.PathOK {
				return nil, nil, &refusal{http.StatusBadRequest, string(prob), bodyPathProblems[prob]}
			}
		}
		if hasMethodOverride(r) {
			return nil, nil, &refusal{http.StatusBadRequest, "method_override", bodyMethodOver}
		}
	}
	if in.detector.Enabled() {
		if inj := inspect.CheckPathSegments(r.URL.Path, in.detector); inj != nil {
			return nil, nil, injectionRefusal(inj)
		}
		if inj := inspect.CheckQuery(r.URL.RawQuery, in.detector); inj != nil {
			return nil, nil, injectionRefusal(inj)
		}
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil, nil
	}
	// One Content-Type, or none: with two, the upstream may read the body
	// as the one this handler did not look at.
	contentTypes := r.Header["Content-Type"]
	mediaType, charset := "", ""
	if len(contentTypes) == 1 {
		if mt, params, err := mime.ParseMediaType(contentTypes[0]); err == nil {
			mediaType, charset = mt, params["charset"]
		}
	}
	if len(in.ContentTypes) > 0 && (len(contentTypes) > 1 || !in.typeAllowed(mediaType)) {
		return nil, nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_media_type", bodyUnsupported}
	}
	if in.MaxBody > 0 && r.ContentLength > in.MaxBody {
		return nil, nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
	}
	kind := inspect.BodyOpaque
	switch {
	case isJSONType(mediaType) && in.jsonDepth > 0:
		kind = inspect.BodyJSON
	case mediaType == "application/x-www-form-urlencoded" && (in.detector.Enabled() || in.strict):
		// Scanned with block; read for _method fields with strict paths.
		kind = inspect.BodyForm
	}
	switch {
	case kind == inspect.BodyOpaque && in.detector.Enabled():
		// block reads every body or refuses it: text/plain, multipart and
		// the rest may hold what an upstream parses anyway.
		return nil, nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_media_type", bodyUnscanned}
	case len(contentTypes) > 1 && in.strict:
		return nil, nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_media_type", bodyUnsupported}
	case kind != inspect.BodyOpaque && charset != "" && !isUTF8Charset(charset):
		// The checks read UTF-8; an upstream that decodes another charset
		// would read what they did not.
		return nil, nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_charset", bodyCharset}
	}
	coding := inspect.CodingIdentity
	if _, ok := r.Header["Content-Encoding"]; ok {
		coding = inspect.ParseContentEncoding(r.Header.Values("Content-Encoding"))
	}
	reads := kind != inspect.BodyOpaque || in.MaxBody > 0
	if reads && coding == inspect.CodingUnsupported {
		return nil, nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_encoding", bodyCoding}
	}
	if in.minRate > 0 {
		slow = newRateReader(w, r.Body, start, in.grace, in.minRate)
		r.Body = slow
	}
	// A body of known length within the limit, in no coding to decode,
	// needs holding only to be checked: Go's server enforces the announced
	// length.
	if kind == inspect.BodyOpaque && (!reads || coding == inspect.CodingIdentity && r.ContentLength > 0) {
		if rec != nil {
			r.Body = rec.countBody(r.Body)
		}
		return nil, slow, nil
	}
	cleanup, ref = in.holdBody(r, kind, coding, rec)
	return cleanup, slow, ref
}

// hasMethodOverride reports whether a request asks to be taken for another
// method, in a header or the query.
func hasMethodOverride(r *http.Request) bool {
	for _, h := range inspect.MethodOverrideHeaders {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return r.URL.RawQuery != "" && inspect.QueryHasMethodOverride(r.URL.RawQuery)
}

func isUTF8Charset(cs string) bool {
	return strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8") || strings.EqualFold(cs, "us-ascii")
}

// maxHeldBody bounds a body held for checking when max_body is not set, so
// that no client can make the gateway hold an unbounded body on disk.
const maxHeldBody = 32 << 20

// holdBody reads the body, decoded from its content coding, through the
// checker into a spool, and on success hands the spool to the next handler
// as the body (decoded, without Content-Encoding: the upstream reads exactly
// what was checked).
func (in *Inspect) holdBody(r *http.Request, kind inspect.BodyKind, coding inspect.Coding, rec *auditRecorder) (func(), *refusal) {
	limit := in.MaxBody
	if limit == 0 {
		limit = maxHeldBody
	}
	if r.ContentLength > limit {
		return nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
	}
	memCap := spoolMemory
	if coding == inspect.CodingIdentity && r.ContentLength > 0 && r.ContentLength < int64(memCap) {
		memCap = int(r.ContentLength)
	}
	sp := inspect.NewSpool(make([]byte, 0, memCap), spoolMemory, "")
	release := func() { sp.Close() } //nolint:errcheck
	body, err := inspect.NewBodyReader(r.Body, coding, limit)
	if err != nil {
		release()
		return nil, readRefusal(err)
	}
	defer body.Close() //nolint:errcheck
	checker := in.checkers.Get().(*inspect.BodyChecker)
	defer in.checkers.Put(checker)
	checker.Reset(kind)

	buf := readBufs.Get().(*[]byte)
	defer readBufs.Put(buf)
	for {
		n, err := body.Read(*buf)
		if n > 0 {
			if _, werr := sp.Write((*buf)[:n]); werr != nil {
				release()
				in.logger.Error("holding a request body", zap.Error(werr))
				return nil, &refusal{http.StatusInsufficientStorage, "body_unreadable", problemBody(http.StatusInsufficientStorage, "the request body could not be held for inspection")}
			}
			if _, cerr := checker.Write((*buf)[:n]); cerr != nil {
				release()
				return nil, bodyRefusal(cerr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			release()
			return nil, readRefusal(err)
		}
	}
	if err := checker.Close(); err != nil {
		release()
		return nil, bodyRefusal(err)
	}
	rd, err := sp.Reader()
	if err != nil {
		release()
		return nil, &refusal{http.StatusBadRequest, "body_unreadable", bodyUnreadable}
	}
	r.Body.Close() //nolint:errcheck
	total := body.Decoded()
	if rec != nil {
		rec.bytesIn = total
		if rec.bodyLimit > 0 {
			rec.reqBody = append([]byte(nil), sp.Head(int(rec.bodyLimit))...)
		}
	}
	if coding != inspect.CodingIdentity {
		r.Header.Del("Content-Encoding")
	}
	r.Body = io.NopCloser(rd)
	r.ContentLength = total
	r.TransferEncoding = nil
	return release, nil
}

// readRefusal answers a body that could not be read to its end.
func readRefusal(err error) *refusal {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errSlowBody) || isTimeout(err):
		return &refusal{http.StatusRequestTimeout, "body_timeout", bodySlow}
	case errors.Is(err, inspect.ErrBodyTooLarge) || errors.As(err, &tooBig):
		return &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
	case errors.Is(err, inspect.ErrBodyEncoding):
		return &refusal{http.StatusBadRequest, "body_undecodable", bodyUndecodable}
	}
	return &refusal{http.StatusBadRequest, "body_unreadable", bodyUnreadable}
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

func bodyRefusal(err error) *refusal {
	var inj *inspect.Injection
	if errors.As(err, &inj) {
		return injectionRefusal(inj)
	}
	if errors.Is(err, inspect.ErrJSONDepth) {
		return &refusal{http.StatusBadRequest, "json_too_deep", bodyTooDeepJSON}
	}
	if errors.Is(err, inspect.ErrMalformedUTF8) {
		return &refusal{http.StatusBadRequest, "malformed_utf8", bodyMalformedUTF8}
	}
	if errors.Is(err, inspect.ErrMethodOverride) {
		return &refusal{http.StatusBadRequest, "method_override", bodyMethodOver}
	}
	return &refusal{http.StatusBadRequest, "malformed_json", bodyMalformedJSON}
}

func injectionRefusal(inj *inspect.Injection) *refusal {
	return &refusal{
		status: http.StatusForbidden,
		reason: inj.Attack.String(),
		body:   problemBody(http.StatusForbidden, "the request was refused: "+inj.Error()),
	}
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
	for _, pattern := range in.ContentTypes {
		if ok, _ := path.Match(pattern, mediaType); ok {
			return true
		}
	}
	return false
}

func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Inspect)(nil)
	_ caddy.Provisioner           = (*Inspect)(nil)
	_ caddy.Validator             = (*Inspect)(nil)
)
