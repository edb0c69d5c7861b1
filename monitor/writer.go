package monitor

import (
	"io"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// statusWriter notes the status of the response written through it. It keeps
// Caddy's ResponseWriterWrapper, so flushing, hijacking and
// http.ResponseController reach the writer underneath.
type statusWriter struct {
	caddyhttp.ResponseWriterWrapper
	status int
}

// statusWriters reuses the writers: a request allocates none.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func getStatusWriter(w http.ResponseWriter) *statusWriter {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	return sw
}

func putStatusWriter(sw *statusWriter) {
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

// WriteHeader notes the first final status (1xx are informational, except
// 101 Switching Protocols, which is final).
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// ReadFrom lets reverse_proxy's copy reach the writer's ReadFrom (sendfile).
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriterWrapper.ReadFrom(r)
}

// Classes of a request's outcome, the class label of route_requests_total.
const (
	class2xx = iota
	class3xx
	class4xx
	class5xx
	classError
	numClasses
)

var classNames = [numClasses]string{"2xx", "3xx", "4xx", "5xx", "error"}

// classOf is the class of a response status; a handler that wrote nothing
// answered 200.
func classOf(status int) int {
	switch {
	case status >= 500:
		return class5xx
	case status >= 400:
		return class4xx
	case status >= 300:
		return class3xx
	}
	return class2xx
}
