package inspect

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// auditRecorder is the response writer api_inspect puts in front of the
// client when auditing: it notes the status and counts (and, when asked,
// keeps the start of) what the client is sent.
type auditRecorder struct {
	http.ResponseWriter
	status   int
	bytesOut int64
	bytesIn  int64
	// bodyLimit is how much of each body is kept: what the record carries
	// and auditSlack more, so that a match across the record's end is
	// masked whole before the body is cut.
	bodyLimit int64
	reqBody   []byte
	respBody  []byte
	counter   *countingBody
	heldWhole bool // the request body was held, and counted, whole
}

// auditSlack is how much more of a body than the record carries is kept to
// be masked.
const auditSlack = MaxMatch

func newAuditRecorder(w http.ResponseWriter, bodies int64) *auditRecorder {
	if bodies > 0 {
		bodies += auditSlack
	}
	return &auditRecorder{ResponseWriter: w, bodyLimit: bodies}
}

func (a *auditRecorder) WriteHeader(code int) {
	if a.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if room := a.bodyLimit - int64(len(a.respBody)); room > 0 {
		a.respBody = append(a.respBody, p[:min(int64(len(p)), room)]...)
	}
	n, err := a.ResponseWriter.Write(p)
	a.bytesOut += int64(n)
	return n, err
}

// Flush passes a flush on, so streaming responses keep streaming.
func (a *auditRecorder) FlushError() error {
	return http.NewResponseController(a.ResponseWriter).Flush()
}

// Flush is FlushError for callers that want an http.Flusher.
func (a *auditRecorder) Flush() { _ = a.FlushError() }

// Hijack passes a hijack on (WebSocket upgrades through reverse_proxy).
func (a *auditRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(a.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (a *auditRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// countBody wraps a request body that is passed on as it streams, to count
// it (and keep its start when bodies are audited).
func (a *auditRecorder) countBody(b io.ReadCloser) io.ReadCloser {
	a.counter = &countingBody{ReadCloser: b, limit: a.bodyLimit}
	return a.counter
}

type countingBody struct {
	io.ReadCloser
	n     int64
	limit int64
	head  []byte
	eof   bool // the body was read to its end
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	c.eof = c.eof || errors.Is(err, io.EOF)
	if room := c.limit - int64(len(c.head)); room > 0 && n > 0 {
		c.head = append(c.head, p[:min(int64(n), room)]...)
	}
	return n, err
}

// writeAudit writes the audit record of a request: who (consumer, key id,
// method of authentication), what (method, host, path; never the query,
// headers or body, which may hold credentials), the answer (status, decision
// and the handler that made it, and the refusals of handlers in report mode),
// how long and how much. Bodies only when configured, and then masked.
func (in *Inspect) writeAudit(r *http.Request, rec *auditRecorder, start time.Time, err error) {
	ce := in.audit.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	status, outcome, handler, reason := auditOutcome(r, rec.status, err)
	bytesIn := rec.bytesIn
	reqBody := rec.reqBody
	reqMore := bytesIn > int64(len(reqBody))
	if rec.counter != nil {
		bytesIn = rec.counter.n
		reqBody = rec.counter.head
		// A body the upstream did not read to its end may go on.
		reqMore = bytesIn > int64(len(reqBody)) || !rec.counter.eof
	}
	fields := make([]zap.Field, 0, 21)
	fields = append(fields,
		zap.String("consumer", ""),
		zap.String("key_id", ""),
		zap.String("auth_method", ""),
	)
	if id := gateway.IdentityFrom(r); id != nil {
		fields[0] = zap.String("consumer", id.Consumer)
		fields[1] = zap.String("key_id", id.KeyID)
		fields[2] = zap.String("auth_method", id.Method)
	}
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	fields = append(fields,
		zap.String("client_ip", ip),
		zap.String("method", r.Method),
		zap.String("host", r.Host),
		zap.String("route", r.Host+r.URL.Path),
		zap.String("path", r.URL.Path),
		zap.Int("status", status),
		zap.String("decision", outcome),
		zap.String("handler", handler),
		zap.String("reason", reason),
		zap.Duration("latency", time.Since(start)),
		zap.Int64("bytes_in", bytesIn),
		zap.Int64("bytes_out", rec.bytesOut),
	)
	if wr := gateway.WouldRejectFrom(r); len(wr) > 0 {
		fields = append(fields, zap.Array("would_reject", decisionList(wr)))
	}
	if in.auditMasker != nil {
		// Masked, then cut: a key or token across the cut is masked whole, or
		// dropped whole where the body kept ends inside it.
		n := int(in.Audit.Bodies)
		fields = append(fields,
			zap.ByteString("request_body", in.auditMasker.MaskHead(reqBody, reqMore, n)),
			zap.ByteString("response_body", in.auditMasker.MaskHead(rec.respBody, rec.bytesOut > int64(len(rec.respBody)), n)),
		)
	}
	ce.Write(fields...)
}

// auditOutcome returns the status of the answer and the decision on r: the
// refusal a handler noted (rejected), an error or a 5xx (failed), or allowed.
func auditOutcome(r *http.Request, status int, err error) (int, string, string, string) {
	outcome, handler, reason := "allowed", "", ""
	if d, ok := gateway.DecisionFrom(r); ok {
		outcome, handler, reason = "rejected", d.Handler, d.Reason
	}
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			status = he.StatusCode
		} else if status == 0 {
			status = http.StatusInternalServerError
		}
		if outcome == "allowed" {
			outcome, reason = "failed", "error"
		}
	} else if status == 0 {
		status = http.StatusOK
	}
	if outcome == "allowed" && status >= 500 {
		outcome = "failed"
	}
	return status, outcome, handler, reason
}

// decisionList is the would_reject field of an audit record: a list of
// {handler, reason}.
type decisionList []gateway.Decision

func (l decisionList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, d := range l {
		if err := enc.AppendObject(decisionObject(d)); err != nil {
			return err
		}
	}
	return nil
}

type decisionObject gateway.Decision

func (d decisionObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("handler", d.Handler)
	enc.AddString("reason", d.Reason)
	return nil
}
