package openapi

import (
	"bytes"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveValidatingResponse passes r on and checks the response against the
// operation once it is written. The response streams to the client as
// usual: a copy of at most MaxBody bytes is kept, and a longer body is not
// checked. A mismatch is recorded through the report-mode gate (log,
// decisions_total{outcome="report"}, would_reject in the audit record), never
// refused: the response is already on its way.
func (o *OpenAPI) serveValidatingResponse(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tee := &teeWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, max: o.MaxBody}
	if err := next.ServeHTTP(tee, r); err != nil {
		return err
	}
	if tee.overflow {
		return nil
	}
	status := tee.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := &http.Response{
		StatusCode:    status,
		Header:        w.Header(),
		Body:          io.NopCloser(bytes.NewReader(tee.buf.Bytes())),
		ContentLength: int64(tee.buf.Len()),
		Request:       r,
	}
	if ok, _ := o.doc.validator.ValidateHttpResponse(r, resp); !ok {
		_, _ = o.respGate.Reject(w, r, o.badResponse)
	}
	return nil
}

// teeWriter writes through and keeps a copy of the first max bytes.
type teeWriter struct {
	*caddyhttp.ResponseWriterWrapper
	buf      bytes.Buffer
	max      int64
	status   int
	overflow bool
}

func (t *teeWriter) WriteHeader(status int) {
	if t.status == 0 && status >= 200 {
		t.status = status
	}
	t.ResponseWriterWrapper.WriteHeader(status)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if !t.overflow {
		if int64(t.buf.Len()+len(p)) > t.max {
			t.overflow = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(p)
		}
	}
	return t.ResponseWriterWrapper.Write(p)
}
