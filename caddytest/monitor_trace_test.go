package caddytest

import (
	"compress/gzip"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes the protobuf export
// requests posted to /v1/traces and keeps their spans.
type otlpReceiver struct {
	*Upstream
	mu    sync.Mutex
	spans []*tracepb.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.Upstream = StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(raw, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				o.spans = append(o.spans, ss.Spans...)
			}
		}
		o.mu.Unlock()
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(resp) //nolint:errcheck
	})
	return o
}

// spanWith reports whether a received span has every attribute of want
// (string values).
func (o *otlpReceiver) spanWith(want map[string]string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		found := 0
		for _, kv := range s.Attributes {
			if v, ok := want[kv.Key]; ok && kv.Value.GetStringValue() == v {
				found++
			}
		}
		if found == len(want) {
			return true
		}
	}
	return false
}

// With Caddy's tracing exporting OTLP over HTTP, the request's span carries
// the monitored route (apigate.route) and its verdict (apigate.route.state),
// which turns degraded when the upstream fails.
func TestMonitorTracingAttributes(t *testing.T) {
	otlp := startOTLPReceiver(t)
	var failing atomic.Bool
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}
http://127.0.0.1:{PORT} {
	tracing {
		span gateway
	}
	api_monitor orders {
		window 1s
		error_rate 5%
		min_requests 5
	}
	reverse_proxy {UPSTREAM}
}
`, GatewayOptions{Env: []string{
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlp.Addr,
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}}, "{UPSTREAM}", up.Addr)
	traffic(t, g)
	Eventually(t, 20*time.Second, "a span of route orders, healthy", func() bool {
		return otlp.spanWith(map[string]string{"apigate.route": "orders", "apigate.route.state": "healthy"})
	})
	failing.Store(true)
	Eventually(t, 20*time.Second, "a span of route orders, degraded", func() bool {
		return otlp.spanWith(map[string]string{"apigate.route": "orders", "apigate.route.state": "degraded"})
	})
}
