package authn

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func testCarriers() Carriers {
	var c Carriers
	c.Add((&APIKey{Header: "X-Api-Key", Query: "api_key"}).Carriers())
	c.Add((&APIKey{Header: "x-other-key"}).Carriers())
	c.Add((&JWT{}).Carriers())
	c.Add((&Introspector{}).Carriers())
	c.Add((&ClientCert{}).Carriers())
	return c
}

func TestCarriersJoin(t *testing.T) {
	c := testCarriers()
	if got := strings.Join(c.Headers(), " "); got != "X-Api-Key Authorization X-Other-Key" {
		t.Errorf("headers %q", got)
	}
	if got := strings.Join(c.Query(), " "); got != "api_key" {
		t.Errorf("query %q", got)
	}
	var none Carriers
	if r := httptest.NewRequest("GET", "/?api_key=x", nil); none.Count(r) != 0 {
		t.Error("the zero value counts")
	}
}

func TestCarriersCountAndStrip(t *testing.T) {
	c := testCarriers()
	tests := []struct {
		name      string
		target    string
		headers   [][2]string
		want      int
		wantQuery string
	}{
		{"nothing", "/?a=1", [][2]string{{"X-Other", "v"}}, 0, "a=1"},
		{"key header", "/", [][2]string{{"X-API-Key", "k"}}, 1, ""},
		{"empty key header", "/", [][2]string{{"X-API-Key", ""}}, 1, ""},
		{"bearer", "/", [][2]string{{"Authorization", "Bearer t"}}, 1, ""},
		{"basic", "/", [][2]string{{"Authorization", "Basic dTpw"}}, 1, ""},
		{"query", "/?a=1&api_key=k&b=2", nil, 1, "a=1&b=2"},
		{"query without value", "/?api_key", nil, 1, ""},
		{"query encoded name", "/?api%5Fkey=k", nil, 1, ""},
		{"query bad escapes", "/?api_key=%zz&a=1", nil, 1, "a=1"},
		{"other parameter", "/?api_keys=k&xapi_key=k", nil, 0, "api_keys=k&xapi_key=k"},
		{"key and bearer", "/", [][2]string{{"X-API-Key", "k"}, {"Authorization", "Bearer t"}}, 2, ""},
		{"key and basic", "/", [][2]string{{"X-API-Key", "k"}, {"Authorization", "Basic dTpw"}}, 2, ""},
		{"two key headers", "/", [][2]string{{"X-API-Key", "k"}, {"X-Api-Key", "k"}}, 2, ""},
		{"two methods' headers", "/", [][2]string{{"X-API-Key", "k"}, {"X-Other-Key", "j"}}, 2, ""},
		{"two authorization", "/", [][2]string{{"Authorization", "Bearer t"}, {"Authorization", "Bearer t"}}, 2, ""},
		{"header and query", "/?api_key=k", [][2]string{{"X-API-Key", "k"}}, 2, ""},
		{"query twice", "/?api_key=k&x=1&api_key=j", nil, 2, "x=1"},
		// Names a lenient upstream reads as api_key.
		{"query upper case", "/?a=1&API_KEY=k", nil, 1, "a=1"},
		{"query dotted", "/?api.key=k&b=2", nil, 1, "b=2"},
		{"query plus", "/?api+key=k", nil, 1, ""},
		{"query dash encoded", "/?api%2Dkey=k&b", nil, 1, "b"},
		{"query after semicolon", "/?a=1;api_key=k;b=2", nil, 1, "a=1;b=2"},
		{"semicolon and ampersand", "/?x=1;api_key=k&API_KEY=j", nil, 2, "x=1"},
		{"last field", "/?a=1&Api.Key=k", nil, 1, "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			r.Header.Set("X-Other", "v")
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			if n := c.Count(r); n != tt.want {
				t.Fatalf("count %d, want %d", n, tt.want)
			}
			c.Strip(r)
			if n := c.Count(r); n != 0 {
				t.Fatalf("count after strip %d", n)
			}
			for _, h := range c.Headers() {
				if _, ok := r.Header[h]; ok {
					t.Errorf("%s left in the request", h)
				}
			}
			if r.Header.Get("X-Other") != "v" {
				t.Error("a header no method reads was removed")
			}
			if r.URL.RawQuery != tt.wantQuery {
				t.Errorf("query %q, want %q", r.URL.RawQuery, tt.wantQuery)
			}
			if r.RequestURI != r.URL.RequestURI() {
				t.Errorf("RequestURI %q, URL %q", r.RequestURI, r.URL.RequestURI())
			}
		})
	}
}

// TestCarriersCountDoesNotAllocate: counting runs on every request.
func TestCarriersCountDoesNotAllocate(t *testing.T) {
	c := testCarriers()
	r := httptest.NewRequest("GET", "/orders?page=2&sort=desc&api_key=k", nil)
	r.Header.Set("X-Api-Key", "k")
	if n := testing.AllocsPerRun(100, func() { c.Count(r) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	r.URL.RawQuery = "page=2"
	vals := []string{"k"}
	if n := testing.AllocsPerRun(100, func() { c.Strip(r); r.Header["X-Api-Key"] = vals }); n != 0 {
		t.Fatalf("strip without a query parameter: %v allocations", n)
	}
}

// FuzzCarriers: for any query string and header values, counting never
// panics, and after Strip no carrier is left, whether the query is read by
// Go's parser or by an upstream that splits on '&' and decodes leniently.
func FuzzCarriers(f *testing.F) {
	c := testCarriers()
	f.Add("a=1&api_key=k", "k", "Bearer t")
	f.Add("api%5Fkey=k&api_key&&=", "", "")
	f.Add("api_key=%zz;x=1", "", "Basic dTpw")
	f.Add("%61pi_key=k&api+key=k&api_key%00=k", "k", "")
	f.Add("x=1;API.KEY=k&Api-Key;api%5bkey=j", "", "")
	f.Fuzz(func(t *testing.T, rawQuery, key, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = rawQuery
		r.RequestURI = r.URL.RequestURI()
		if key != "" {
			r.Header.Set("X-Api-Key", key)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		before := c.Count(r)
		if key != "" && auth != "" && before < 2 {
			t.Fatalf("two headers counted %d", before)
		}
		c.Strip(r)
		if n := c.Count(r); n != 0 {
			t.Fatalf("%d carriers left in %q", n, r.URL.RawQuery)
		}
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Has("api_key") {
			t.Fatalf("api_key left in %q (from %q)", r.URL.RawQuery, rawQuery)
		}
		// As the most lenient upstream reads names: split on '&' and ';',
		// decoded, ASCII case and '.', '-', ' ', '[' folded.
		lenient := strings.NewReplacer(".", "_", "-", "_", " ", "_", "[", "_",
			"A", "a", "E", "e", "I", "i", "K", "k", "P", "p", "Y", "y")
		for part := range strings.FieldsFuncSeq(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
			k, _, _ := strings.Cut(part, "=")
			if uk, err := url.QueryUnescape(k); err == nil && lenient.Replace(uk) == "api_key" {
				t.Fatalf("api_key left in %q (from %q)", r.URL.RawQuery, rawQuery)
			}
		}
		if len(r.Header.Values("X-Api-Key"))+len(r.Header.Values("Authorization")) != 0 {
			t.Fatal("a carrier header left")
		}
	})
}
