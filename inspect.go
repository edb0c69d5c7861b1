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
// clean or malformed or too deep JSON, 413 for a body over max_body, 415 for
// a body of a type not listed, 403 for a payload that looks like SQL
// injection or cross-site scripting (naming where, never echoing it).
type Inspect struct {
	// MaxBody is the largest request body allowed, in bytes: larger bodies are
	// answered 413, whether they announce their length or are sent chunked.
	// Default: 0 (no limit), except that a body held for checking (JSON or form
	// with json_depth or block) may be at most 32 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// JSONDepth is the deepest nesting allowed in a JSON request body; JSON
	// bodies (application/json, application/*+json) that are nested deeper or
	// are not well-formed are answered 400. Default: 0 (JSON bodies are not
	// checked, unless Block is set, which checks them with a depth of 512).
	JSONDepth int `json:"json_depth,omitempty"`

	// ContentTypes lists the media types a request body may have (patterns as
	// in Go's path.Match: `application/json`, `application/*+json`, `text/*`);
	// requests with a body of another type, or none, are answered 415.
	// Default: any type.
	ContentTypes []string `json:"content_types,omitempty"`

	// Block lists the attacks to refuse with 403: `sqli` and `xss`, detected
	// with libinjection in query values, path segments, URL-encoded form values
	// and JSON string values. Default: none.
	Block []string `json:"block,omitempty"`

	// Paths is `strict` or `off`. Strict answers 400 to request paths with an
	// encoded slash, a dot segment, an empty segment (//), a backslash, a NUL
	// or control character, a malformed or double escape, so the path Caddy
	// routes on is the path the upstream gets. Default: strict.
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
)

// inspectReasons are the outcomes of api_inspect's refusals.
var inspectReasons = []string{
	"body_too_large", "unsupported_media_type", "malformed_json", "json_too_deep", "body_unreadable",
	"sqli", "xss",
	string(inspect.PathEncodedSlash), string(inspect.PathDotSegment), string(inspect.PathDoubleSlash),
	string(inspect.PathBackslash), string(inspect.PathNUL), string(inspect.PathBadEscape),
	string(inspect.PathControl), string(inspect.PathDoubleEncoded), string(inspect.PathNotAbsolute),
}

// Answers that do not depend on the request.
var (
	bodyTooLarge      = problemBody(http.StatusRequestEntityTooLarge, "the request body is larger than this API accepts")
	bodyUnsupported   = problemBody(http.StatusUnsupportedMediaType, "this API does not accept request bodies of this content type")
	bodyMalformedJSON = problemBody(http.StatusBadRequest, "the request body is not well-formed JSON")
	bodyTooDeepJSON   = problemBody(http.StatusBadRequest, "the request body's JSON is nested deeper than this API accepts")
	bodyUnreadable    = problemBody(http.StatusBadRequest, "the request body could not be read to its end")
	bodyPathProblems  = func() map[inspect.PathProblem][]byte {
		m := map[inspect.PathProblem][]byte{}
		for _, p := range []inspect.PathProblem{inspect.PathEncodedSlash, inspect.PathDotSegment, inspect.PathDoubleSlash,
			inspect.PathBackslash, inspect.PathNUL, inspect.PathBadEscape, inspect.PathControl, inspect.PathDoubleEncoded, inspect.PathNotAbsolute} {
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
	depth, det := in.jsonDepth, in.detector
	in.checkers = &sync.Pool{New: func() any { return &inspect.BodyChecker{MaxDepth: depth, Detector: det} }}
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
	cleanup, ref := in.checkRequest(r, rec)
	if cleanup != nil {
		defer cleanup()
	}
	var err error
	if ref != nil {
		in.mLatency.Observe(time.Since(start).Seconds())
		if c := in.mOutcome[ref.reason]; c != nil {
			c.Inc()
		}
		recordDecision(r, "api_inspect", ref.reason)
		if ref.status == http.StatusRequestEntityTooLarge {
			// Do not read the rest of a body too large to accept.
			w.Header().Set("Connection", "close")
		}
		err = writeProblem(w, ref.status, ref.body)
	} else {
		in.mAllowed.Inc()
		in.mLatency.Observe(time.Since(start).Seconds())
		if in.masker != nil && r.Method != http.MethodHead {
			err = in.serveMasked(w, r, next)
		} else {
			err = next.ServeHTTP(w, r)
		}
	}
	annotateSpan(r)
	if rec != nil {
		in.writeAudit(r, rec, start, err)
	}
	return err
}

// checkRequest runs the request checks. cleanup, when not nil, releases the
// held body once the request is done.
func (in *Inspect) checkRequest(r *http.Request, rec *auditRecorder) (cleanup func(), ref *refusal) {
	if in.strict && !(r.Method == http.MethodConnect && !strings.HasPrefix(r.RequestURI, "/")) {
		if prob := inspect.CheckPath(requestPath(r)); prob != inspect.PathOK {
			return nil, &refusal{http.StatusBadRequest, string(prob), bodyPathProblems[prob]}
		}
	}
	if in.detector.Enabled() {
		if inj := inspect.CheckPathSegments(r.URL.Path, in.detector); inj != nil {
			return nil, injectionRefusal(inj)
		}
		if inj := inspect.CheckQuery(r.URL.RawQuery, in.detector); inj != nil {
			return nil, injectionRefusal(inj)
		}
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	mediaType := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
		}
	}
	if len(in.ContentTypes) > 0 && !in.typeAllowed(mediaType) {
		return nil, &refusal{http.StatusUnsupportedMediaType, "unsupported_media_type", bodyUnsupported}
	}
	if in.MaxBody > 0 && r.ContentLength > in.MaxBody {
		return nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
	}
	kind := inspect.BodyOpaque
	switch {
	case isJSONType(mediaType) && in.jsonDepth > 0:
		kind = inspect.BodyJSON
	case mediaType == "application/x-www-form-urlencoded" && in.detector.Enabled():
		kind = inspect.BodyForm
	}
	// A body of known length within the limit needs holding only to be
	// checked: Go's server enforces the announced length.
	if kind == inspect.BodyOpaque && (in.MaxBody == 0 || r.ContentLength > 0) {
		if rec != nil {
			r.Body = rec.countBody(r.Body)
		}
		return nil, nil
	}
	return in.holdBody(r, kind, rec)
}

// maxHeldBody bounds a body held for checking when max_body is not set, so
// that no client can make the gateway hold an unbounded body on disk.
const maxHeldBody = 32 << 20

// holdBody reads the body through the checker into a spool, and on success
// hands the spool to the next handler as the body.
func (in *Inspect) holdBody(r *http.Request, kind inspect.BodyKind, rec *auditRecorder) (func(), *refusal) {
	memCap := spoolMemory
	if r.ContentLength > 0 && r.ContentLength < int64(memCap) {
		memCap = int(r.ContentLength)
	}
	sp := inspect.NewSpool(make([]byte, 0, memCap), spoolMemory, "")
	release := func() { sp.Close() } //nolint:errcheck
	checker := in.checkers.Get().(*inspect.BodyChecker)
	defer in.checkers.Put(checker)
	checker.Reset(kind)

	buf := readBufs.Get().(*[]byte)
	defer readBufs.Put(buf)
	limit := in.MaxBody
	if limit == 0 {
		limit = maxHeldBody
	}
	if r.ContentLength > limit {
		release()
		return nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
	}
	var total int64
	for {
		n, err := r.Body.Read(*buf)
		if n > 0 {
			total += int64(n)
			if total > limit {
				release()
				return nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
			}
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
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", bodyTooLarge}
			}
			return nil, &refusal{http.StatusBadRequest, "body_unreadable", bodyUnreadable}
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
	if rec != nil {
		rec.bytesIn = total
		if rec.bodyLimit > 0 {
			rec.reqBody = append([]byte(nil), sp.Head(int(rec.bodyLimit))...)
		}
	}
	r.Body = io.NopCloser(rd)
	r.ContentLength = total
	r.TransferEncoding = nil
	return release, nil
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
