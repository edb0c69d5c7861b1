package apigate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"

	"github.com/apigate/caddy-apigate/keystore"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testStore returns a store on a temporary folder with one key per scope set.
func testStore(t testing.TB, scopes ...[]string) (*keystore.Store, []string) {
	t.Helper()
	s := keystore.New(&certmagic.FileStorage{Path: t.TempDir()}, keystore.Policy{})
	var keys []string
	for i, sc := range scopes {
		_, key, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "c" + string(rune('0'+i)), Scopes: sc}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return s, keys
}

// newRequest builds a request as Caddy's server prepares it: a replacer and the
// vars map (with the client IP) in its context.
func newRequest(method, target, clientIP string) (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
	return r.WithContext(ctx), repl
}

// recordNext is the next handler: it records the request it got.
type recordNext struct {
	called bool
	req    *http.Request
}

func (n *recordNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called, n.req = true, r
	w.WriteHeader(http.StatusOK)
	return nil
}

// identityVar is gateway's request variable of the identity, for the tests
// that set one without a request at hand.
const identityVar = "apigate.identity"
