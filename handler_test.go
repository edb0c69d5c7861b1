package apigate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
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

func testAuthorize(t testing.TB, az *Authorize) *Authorize {
	t.Helper()
	metricsOnce.Do(buildMetrics)
	az.logger = zap.NewNop()
	az.mAllowed = decisions.WithLabelValues("api_authorize", "allowed")
	az.mNoIdentity = decisions.WithLabelValues("api_authorize", "no_identity")
	az.mIP = decisions.WithLabelValues("api_authorize", "ip_not_allowed")
	az.mScope = decisions.WithLabelValues("api_authorize", "insufficient_scope")
	if err := az.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := az.provisionAnswers(); err != nil {
		t.Fatal(err)
	}
	return az
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

func TestAuthorizeHandler(t *testing.T) {
	id := &authn.Identity{Consumer: "c", Scopes: []string{"orders:read", "support"}}
	tests := []struct {
		name string
		az   Authorize
		id   *authn.Identity
		ip   string
		want int
	}{
		{"no identity", Authorize{}, nil, "127.0.0.1", 401},
		{"any identity", Authorize{}, id, "127.0.0.1", 200},
		{"all held", Authorize{All: []string{"orders:read"}}, id, "127.0.0.1", 200},
		{"all missing one", Authorize{All: []string{"orders:read", "orders:write"}}, id, "127.0.0.1", 403},
		{"any held", Authorize{Any: []string{"admin", "support"}}, id, "127.0.0.1", 200},
		{"any none", Authorize{Any: []string{"admin", "ops"}}, id, "127.0.0.1", 403},
		{"all and any", Authorize{All: []string{"orders:read"}, Any: []string{"admin"}}, id, "127.0.0.1", 403},
		{"ip in", Authorize{IPs: []string{"10.0.0.0/8"}}, id, "10.1.2.3", 200},
		{"ip out", Authorize{IPs: []string{"10.0.0.0/8"}}, id, "11.1.2.3", 403},
		{"ip unknown", Authorize{IPs: []string{"10.0.0.0/8"}}, id, "", 403},
		{"ipv6", Authorize{IPs: []string{"2001:db8::/32"}}, id, "2001:db8::5", 200},
		{"mapped v4", Authorize{IPs: []string{"10.0.0.1"}}, id, "::ffff:10.0.0.1", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			az := testAuthorize(t, &tt.az)
			r, _ := newRequest("GET", "/", tt.ip)
			if tt.id != nil {
				caddyhttp.SetVar(r.Context(), identityVar, tt.id)
			}
			w := httptest.NewRecorder()
			if err := az.ServeHTTP(w, r, &recordNext{}); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want == 403 && len(tt.az.IPs) == 0 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// identityVar is gateway's request variable of the identity, for the tests
// that set one without a request at hand.
const identityVar = "apigate.identity"
