package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestSubjectToken(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	vars := map[string]any{}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	if SubjectTokenFrom(r) != "" {
		t.Fatal("a token before any was set")
	}
	SetSubjectToken(r, BearerToken("bearer  tok.en "))
	if got := SubjectTokenFrom(r); got != "tok.en" {
		t.Fatalf("got %q", got)
	}
	if s := fmt.Sprint(vars); s == "" || strings.Contains(s, "tok.en") {
		t.Fatalf("the vars render the token: %s", s)
	}
	for _, v := range []string{"", "Basic abc", "Bearer", "Bearer "} {
		if BearerToken(v) != "" {
			t.Errorf("BearerToken(%q) is not empty", v)
		}
	}
}
