package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func requestWith(t testing.TB, target string, headers ...string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	return r
}

func TestCarriesCredentialBuiltin(t *testing.T) {
	for _, tc := range []struct {
		target  string
		headers []string
		want    bool
	}{
		{"/x", nil, false},
		{"/x?page=2&sort=id", []string{"Accept", "a/b", "Cookie", "s=1"}, false},
		{"/x", []string{"Authorization", "Basic YTpi"}, true},
		{"/x", []string{"Authorization", ""}, true},
		{"/x", []string{"X-Api-Key", "k"}, true},
		{"/x", []string{"x-api-key", "k"}, true},   // not canonicalised
		{"/x", []string{"X_Api_Key", "k"}, true},   // CGI reads it as X-API-Key
		{"/x", []string{"X-Api-Keys", "k"}, false}, // another name
		{"/x?api_key=k", nil, true},                // the usual query name
		{"/x?a=1&API_KEY=k", nil, true},            // any case
		{"/x?a=1;api_key=k", nil, true},            // ';' separates too
		{"/x?api%5Fkey=k", nil, true},              // percent-encoded
		{"/x?api%5fkey", nil, true},                // no value
		{"/x?api.key=k", nil, true},                // PHP reads it as api_key
		{"/x?api+key=k&b=2", nil, true},            // and this
		{"/x?api_keys=k&xapi_key=1&api_ke=2", nil, false},
		{"/x?q=api_key", nil, false}, // a value, not a name
		{"/x?api%zzkey=k", nil, false},
	} {
		r := requestWith(t, tc.target, tc.headers...)
		if got := CarriesCredential(r); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.target, tc.headers, got, tc.want)
		}
	}
}

func TestRegisterCarriers(t *testing.T) {
	partner := requestWith(t, "/x", "X-Partner-Token", "t")
	token := requestWith(t, "/x?partner_token=t")
	if CarriesCredential(partner) || CarriesCredential(token) {
		t.Fatal("carrier before it was registered")
	}
	release := RegisterCarriers("X-Partner-Token", "partner_token")
	// A reload loads the new config before cleaning up the old one.
	release2 := RegisterCarriers("x-partner-token", "")
	if !CarriesCredential(partner) || !CarriesCredential(token) {
		t.Fatal("registered carriers not seen")
	}
	release()
	release() // idempotent
	if !CarriesCredential(partner) || CarriesCredential(token) {
		t.Fatal("the header is still read by a loaded method; the query parameter is not")
	}
	release2()
	if CarriesCredential(partner) {
		t.Fatal("carrier kept after every method released it")
	}
	if !CarriesCredential(requestWith(t, "/x", "X-Api-Key", "k")) {
		t.Fatal("a built-in carrier was released")
	}
}

func TestCarriesCredentialAllocations(t *testing.T) {
	defer RegisterCarriers("X-Partner-Token", "token")()
	r := requestWith(t, "/x?page=2&sort=id%2Cname&filter=a+b", "Accept", "a/b", "User-Agent", "t", "X-Request-Id", "1")
	if n := testing.AllocsPerRun(100, func() { CarriesCredential(r) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzCarriesCredential: any query and header name is read without a panic,
// and a carrier that Go's own query parser (as an upstream in Go would) or a
// header lookup finds is always seen.
func FuzzCarriesCredential(f *testing.F) {
	f.Add("api_key=x", "X-Api-Key")
	f.Add("a=1;API%5Fkey", "x_api_key")
	f.Add("%", "Authorization")
	f.Add("api_key%", "X-API-KEY ")
	f.Add("&&;=&api+key", "")
	defer RegisterCarriers("X-Partner-Token", "partner-token")()
	f.Fuzz(func(t *testing.T, query, header string) {
		r := &http.Request{URL: &url.URL{Path: "/", RawQuery: query}, Header: http.Header{}}
		if header != "" {
			r.Header[header] = []string{"v"}
		}
		got := CarriesCredential(r)
		q, _ := url.ParseQuery(query)
		for name := range q {
			if strings.EqualFold(name, "api_key") || strings.EqualFold(name, "partner-token") {
				if !got {
					t.Fatalf("query %q: parameter %q not seen", query, name)
				}
			}
		}
		switch http.CanonicalHeaderKey(header) {
		case "Authorization", "X-Api-Key", "X-Partner-Token":
			if !got {
				t.Fatalf("header %q not seen", header)
			}
		}
	})
}

func BenchmarkCarriesCredential(b *testing.B) {
	defer RegisterCarriers("X-Partner-Token", "token")()
	r := requestWith(b, "/catalog?page=2&sort=name", "Accept", "application/json", "User-Agent", "bench", "X-Request-Id", "1")
	b.ReportAllocs()
	for b.Loop() {
		CarriesCredential(r)
	}
}
