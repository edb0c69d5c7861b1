package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/apigate/caddy-apigate/keystore"
)

var now = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func newAPIKey(t testing.TB, query string) (*APIKey, string) {
	t.Helper()
	s := keystore.New(&certmagic.FileStorage{Path: t.TempDir()}, keystore.Policy{})
	_, key, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "shop", Scopes: []string{"a", "b"}, AllowedIPs: []string{"10.0.0.0/8"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &APIKey{Header: "X-Api-Key", Query: query, Prefix: "agk", Keys: s}, key
}

var inside = netip.MustParseAddr("10.1.1.1")

func TestAPIKeyFind(t *testing.T) {
	a, key := newAPIKey(t, "api_key")
	tests := []struct {
		name      string
		target    string
		headers   [][2]string
		want      error // nil means accepted
		wantQuery string
	}{
		{"header", "/", [][2]string{{"X-API-Key", key}}, nil, ""},
		{"header with spaces", "/", [][2]string{{"X-API-Key", "  " + key + " "}}, nil, ""},
		{"bearer", "/", [][2]string{{"Authorization", "Bearer " + key}}, nil, ""},
		{"bearer lower", "/", [][2]string{{"Authorization", "bearer " + key}}, nil, ""},
		{"query", "/?api_key=" + key + "&x=1", nil, nil, "x=1"},
		{"query keeps others verbatim", "/?a=%20&api_key=" + key + "&b=c+d", nil, nil, "a=%20&b=c+d"},
		{"encoded param name", "/?api%5Fkey=" + key, nil, nil, ""},
		{"none", "/", nil, ErrNoCredential, ""},
		{"basic auth is not ours", "/", [][2]string{{"Authorization", "Basic dTpw"}}, ErrNoCredential, ""},
		{"jwt bearer is not ours", "/", [][2]string{{"Authorization", "Bearer eyJ.x.y"}}, ErrNoCredential, ""},
		{"bearer without token", "/", [][2]string{{"Authorization", "Bearer "}}, ErrNoCredential, ""},
		{"empty header", "/", [][2]string{{"X-API-Key", ""}}, ErrMalformed, ""},
		{"empty query", "/?api_key=", nil, ErrMalformed, ""},
		{"two headers", "/", [][2]string{{"X-API-Key", key}, {"X-API-Key", key}}, ErrAmbiguous, ""},
		{"two bearers", "/", [][2]string{{"Authorization", "Bearer " + key}, {"Authorization", "Bearer " + key}}, ErrAmbiguous, ""},
		{"header and bearer", "/", [][2]string{{"X-API-Key", key}, {"Authorization", "Bearer " + key}}, ErrAmbiguous, ""},
		{"header and query", "/?api_key=" + key, [][2]string{{"X-API-Key", key}}, ErrAmbiguous, ""},
		{"query twice", "/?api_key=" + key + "&api_key=" + key, nil, ErrAmbiguous, ""},
		{"bad query escapes", "/?api_key=%zz", nil, ErrMalformed, ""},
		{"wrong key", "/", [][2]string{{"X-API-Key", key[:len(key)-1] + "!"}}, ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			id, err := a.Authenticate(r, inside, now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if id.Consumer != "shop" || id.ScopeString != "a b" || id.Method != "api_key" || id.KeyID == "" {
					t.Fatalf("identity %+v", id)
				}
				if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "" || strings.Contains(r.URL.RawQuery, key) || strings.Contains(r.RequestURI, key) {
					t.Fatalf("credential left in the request: %v %q %q", r.Header, r.URL.RawQuery, r.RequestURI)
				}
				if r.URL.RawQuery != tt.wantQuery {
					t.Fatalf("query %q, want %q", r.URL.RawQuery, tt.wantQuery)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if id != nil {
				t.Fatal("identity with an error")
			}
		})
	}
}

func TestAPIKeyQueryOff(t *testing.T) {
	a, key := newAPIKey(t, "")
	r := httptest.NewRequest("GET", "/?api_key="+key, nil)
	if _, err := a.Authenticate(r, inside, now); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("query accepted while off: %v", err)
	}
}

func TestAPIKeyAllowedIPs(t *testing.T) {
	a, key := newAPIKey(t, "")
	for ip, want := range map[string]error{"10.9.9.9": nil, "11.0.0.1": ErrIPNotAllowed, "": ErrIPNotAllowed} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Api-Key", key)
		addr, _ := netip.ParseAddr(ip)
		if _, err := a.Authenticate(r, addr, now); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%q: %v, want %v", ip, err, want)
		}
	}
}

func TestIdentityScopes(t *testing.T) {
	id := &Identity{Scopes: []string{"a", "b"}}
	var none *Identity
	if !id.HasAll([]string{"a", "b"}) || id.HasAll([]string{"a", "c"}) || !id.HasAll(nil) {
		t.Error("HasAll")
	}
	if !id.HasAny([]string{"c", "b"}) || id.HasAny([]string{"c"}) || !id.HasAny(nil) {
		t.Error("HasAny")
	}
	if none.HasScope("a") || none.HasAll([]string{"a"}) {
		t.Error("nil identity holds scopes")
	}
}

// FuzzAPIKeyRequest throws arbitrary header values and query strings at the key
// extraction: it must never panic, never accept anything but the real key, and
// never leave a credential it accepted in the request.
func FuzzAPIKeyRequest(f *testing.F) {
	a, key := newAPIKey(f, "api_key")
	f.Add(key, "", "api_key="+key)
	f.Add("", "Bearer "+key, "")
	f.Add(key, "Bearer "+key, "a=1")
	f.Add("\x00", "Bearer agk_", "api_key=%zz;x")
	f.Add("agk_AAAAAAAAAAAA_", "bEaReR  "+key, "api_key&api_key=")
	f.Fuzz(func(t *testing.T, header, authz, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		r.RequestURI = "/?" + query
		if header != "" {
			r.Header["X-Api-Key"] = []string{header}
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		id, err := a.Authenticate(r, inside, now)
		if err == nil {
			if id == nil || id.Consumer != "shop" {
				t.Fatalf("accepted without an identity: %+v", id)
			}
			if r.Header.Get("X-Api-Key") != "" || strings.Contains(r.URL.RawQuery, key) {
				t.Fatal("accepted credential left in the request")
			}
		}
		var rej *Rejection
		if err != nil && !errors.Is(err, ErrNoCredential) && !errors.As(err, &rej) {
			t.Fatalf("unexpected error type %T", err)
		}
		_ = http.StatusOK
	})
}
