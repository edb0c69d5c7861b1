package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/openapi"
)

// The requests of the openapi variants pass their document: the benchmark
// measures validation, not refusals.
func TestOpenAPIVariantsPass(t *testing.T) {
	o := openapiHandler(t)
	for _, v := range []variant{openapiPostVariant, openapiGetVariant} {
		if code, passed := serveVariant(o, v); !passed {
			t.Fatalf("%s: refused with %d", v.name, code)
		}
	}
}

// BenchmarkOpenAPIVariants measures the handler alone on the variants'
// requests, the part of their cost api_openapi adds.
func BenchmarkOpenAPIVariants(b *testing.B) {
	o := openapiHandler(b)
	for _, v := range []variant{openapiPostVariant, openapiGetVariant} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serveVariant(o, v)
			}
		})
	}
}

func openapiHandler(t testing.TB) *openapi.OpenAPI {
	env, _, err := writeOpenAPIDocument(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	o := &openapi.OpenAPI{File: strings.TrimPrefix(env[0], "BENCH_OPENAPI="), ValidateRequest: true}
	if err := o.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Cleanup() })
	return o
}

func serveVariant(o *openapi.OpenAPI, v variant) (int, bool) {
	method := v.method
	if method == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, v.path, bytes.NewReader(v.body))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	w := httptest.NewRecorder()
	passed := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil })
	_ = o.ServeHTTP(w, r, next)
	return w.Code, passed
}
