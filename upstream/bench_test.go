package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// BenchmarkWarmExchange is one request whose exchanged token is cached: the
// cost api_upstream_auth adds to a request in the steady state.
func BenchmarkWarmExchange(b *testing.B) {
	idp := newFakeIdP(b)
	now := time.Now()
	u := provision(b, exchangeConfig(idp.URL), &now)
	subject := "eyJhbGciOiJFUzI1NiJ9." + strings.Repeat("x", 600) + ".sig"
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	gateway.SetSubjectToken(r, subject)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	if err := u.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
		b.Fatal(err, w.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = u.ServeHTTP(w, r, next)
	}
	if idp.calls.Load() != 1 {
		b.Fatalf("%d exchanges", idp.calls.Load())
	}
}
