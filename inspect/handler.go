package inspect

import (
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Inspect is the api_inspect handler: it checks what consumers send before
// any other handler of the plugin runs, masks sensitive data in what they get
// back, and writes one audit record per request.
//
// Request checks run on a stream with bounded memory. A request body that
// must be checked is held while it is read (in memory up to 64 KiB, in an
// unlinked temporary file beyond) and handed to the next handler only once it
// passed, so in enforce mode the upstream never sees a refused request.
//
// Refusals are RFC 9457 problem+json answers, made through the handler's
// gateway.Gate: 400 for a path that is not clean, a method override,
// malformed or too deep JSON or malformed UTF-8, 408 for a body slower than
// min_upload_rate, 413 for a body over max_body, 415 for a body of a type,
// charset or content coding not accepted, 403 for a payload that looks like
// SQL injection or cross-site scripting (naming where, never echoing it). In
// report mode a request the checks would refuse passes on, and the gate
// records what they would have done.
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

	// Mode is enforce or report. In report mode a request the checks would
	// refuse passes on (a body held for checking as it was read); the
	// refusal is logged, counted as decisions_total{outcome="report"},
	// written to the audit record as would_reject and added to the trace
	// span. Masking is no check: a response that cannot be masked is
	// answered 502 in either mode. Default: enforce.
	Mode gateway.Mode `json:"mode,omitempty"`

	masker       *Masker
	auditMasker  *Masker
	detector     Detector
	jsonDepth    int
	contentTypes []string // ContentTypes in lower case
	strict       bool
	minRate      int64
	grace        time.Duration
	logger       *zap.Logger
	audit        *zap.Logger
	checkers     *sync.Pool

	// gate refuses what the checks find; strictGate makes the refusals that
	// report mode must not turn into passes (it is gate itself in enforce
	// mode).
	gate       *gateway.Gate
	strictGate *gateway.Gate
	ans        *answers
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
	// defaultMinUploadRate and defaultUploadGrace apply when max_body is set.
	defaultMinUploadRate = 10_000
	defaultUploadGrace   = 10 * time.Second
)

// CaddyModule returns the Caddy module information.
func (Inspect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_inspect",
		New: func() caddy.Module { return new(Inspect) },
	}
}

// Provision fills the defaults, compiles the checks and the masking rules and
// builds the refusals.
func (in *Inspect) Provision(ctx caddy.Context) error {
	in.logger = ctx.Logger()
	g, err := gateway.NewGate(ctx, "api_inspect", in.Mode)
	if err != nil {
		return err
	}
	in.gate, in.strictGate = g, g
	if g.Reporting() {
		// A masked route never passes a body it could not mask, and a body
		// the gateway could not hold is no verdict of the checks: those
		// refusals hold in report mode too.
		if in.strictGate, err = gateway.NewGate(ctx, "api_inspect", gateway.Enforce); err != nil {
			return err
		}
	}
	in.ans = newAnswers(in.gate, in.strictGate)

	in.strict = in.Paths == "" || in.Paths == "strict"
	in.contentTypes = make([]string, len(in.ContentTypes))
	for i, ct := range in.ContentTypes {
		in.contentTypes[i] = strings.ToLower(ct)
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
	if err := in.provisionMasks(); err != nil {
		return err
	}
	depth, det, strict := in.jsonDepth, in.detector, in.strict
	in.checkers = &sync.Pool{New: func() any { return &BodyChecker{MaxDepth: depth, Detector: det, RefuseOverride: strict} }}
	return nil
}

// provisionMasks compiles the response masker and the masker of the bodies
// audit records carry.
func (in *Inspect) provisionMasks() error {
	if in.Mask != nil {
		m, err := NewMasker(*in.Mask)
		if err != nil {
			return err
		}
		if m.Enabled() {
			in.masker = m
		}
	}
	if in.Audit == nil {
		return nil
	}
	in.audit = in.logger.Named("audit")
	if in.Audit.Bodies <= 0 {
		return nil
	}
	// Recorded bodies are masked with the route's rules (cards and e-mails
	// without any), and always for credentials: the gateway's API keys
	// (api_key_rotate answers with one) and JWTs.
	cfg := MaskConfig{Card: true, Email: true}
	if in.Mask != nil {
		cfg = *in.Mask
	}
	cfg.Regex = append(cfg.Regex[:len(cfg.Regex):len(cfg.Regex)],
		// The key format with any prefix: <prefix>_<id>_<secret><checksum>.
		MaskRule{Name: "api_key", Pattern: `[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}`},
		MaskRule{Name: "jwt", Pattern: `eyJ[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]*`},
	)
	m, err := NewMasker(cfg)
	if err != nil {
		return fmt.Errorf("audit masker: %w", err)
	}
	in.auditMasker = m
	return nil
}

// Validate checks the configuration. Each rule has one wording, shared with
// the Caddyfile where its arguments are read.
func (in *Inspect) Validate() error {
	switch {
	case in.MaxBody < 0:
		return fmt.Errorf("max_body must not be negative")
	case in.JSONDepth < 0:
		return fmt.Errorf("json_depth must not be negative")
	case in.UploadGrace < 0:
		return fmt.Errorf("upload_grace must not be negative")
	case in.Audit != nil && in.Audit.Bodies < 0:
		return fmt.Errorf("audit: bodies must not be negative")
	}
	if err := checkPaths(in.Paths); err != nil {
		return err
	}
	for _, b := range in.Block {
		if err := checkAttack(b); err != nil {
			return err
		}
	}
	for _, ct := range in.ContentTypes {
		if _, err := path.Match(ct, "x/y"); err != nil || !strings.Contains(ct, "/") {
			return fmt.Errorf("content_types: %q is not a media type or pattern", ct)
		}
	}
	return in.Mode.Validate()
}

// checkPaths checks the value of paths; "" is the default, strict.
func checkPaths(v string) error {
	if v != "" && v != "strict" && v != "off" {
		return fmt.Errorf("paths must be strict or off, not %q", v)
	}
	return nil
}

// checkAttack checks an attack named in block.
func checkAttack(a string) error {
	if a != "sqli" && a != "xss" {
		return fmt.Errorf("block: unknown attack %q (want sqli, xss)", a)
	}
	return nil
}

func (in *Inspect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	var rec *auditRecorder
	if in.audit != nil {
		rec = newAuditRecorder(w, in.Audit.Bodies)
		w = rec
	}
	var h held
	defer h.release()
	err := in.serve(w, r, next, rec, &h, start)
	gateway.AnnotateAllowed(r)
	if rec != nil {
		in.writeAudit(r, rec, start, err)
	}
	return err
}

// serve checks r and passes it on when it passed, or in report mode when
// the checks would refuse it.
func (in *Inspect) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rec *auditRecorder, h *held, start time.Time) error {
	ref := in.checkRequest(w, r, rec, h, start)
	if ref.ans == nil {
		in.gate.Pass(start)
		return in.passOn(w, r, next, h)
	}
	if done, err := ref.gate.RejectWith(w, r, ref.ans, gateway.Extra{Body: ref.body}); done {
		return err
	}
	// Report mode: the gate recorded the refusal. The checks stopped at it
	// and the request passes on as it is, a held body as it was read.
	h.report()
	if rec != nil && !rec.heldWhole && r.Body != nil && r.Body != http.NoBody {
		r.Body = rec.countBody(r.Body)
	}
	return in.passOn(w, r, next, h)
}

// passOn runs the next handler, masking its answer and, while the body it
// reads streams under min_upload_rate, answering 408 for a body that fell
// behind.
func (in *Inspect) passOn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, h *held) error {
	var mw *maskResponseWriter
	var asks [len(unmaskableAsks)][]string
	out := w
	if in.masker != nil {
		mw = &maskResponseWriter{ResponseWriter: w, in: in, r: r, head: r.Method == http.MethodHead}
		out = mw
		asks = dropUnmaskableAsks(r)
	}
	slow := h.slow
	var sw *slowBodyWriter
	if slow != nil && !slow.ended && !slow.observe {
		sw = slow.answerFor(out, in, r)
		out = sw
	}
	err := next.ServeHTTP(out, r)
	if mw != nil {
		restoreUnmaskableAsks(r, asks)
		if ferr := mw.finish(); err == nil && ferr != nil {
			err = ferr
		}
	}
	switch {
	case sw != nil && slow.timedOut:
		// A body passed on as it streamed fell behind min_upload_rate
		// while the next handler read it: the failure is the client's.
		if err != nil {
			sw.answer()
		}
		if sw.answered {
			err = sw.err
		}
	case slow != nil && slow.late && !h.reported:
		// Report mode: it fell behind, and was read on.
		_, _ = in.gate.Reject(w, r, in.ans.slow)
	}
	return err
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Inspect)(nil)
	_ caddy.Provisioner           = (*Inspect)(nil)
	_ caddy.Validator             = (*Inspect)(nil)
)
