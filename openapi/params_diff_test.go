package openapi

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/router"
)

// paramTarget is a document the differential tests send requests to, with
// the names its templates and parameters use.
type paramTarget struct {
	name      string
	doc       *document
	templates []string
	query     []string
	headers   []string
}

func paramTargets(t testing.TB) []*paramTarget {
	t.Helper()
	speakeasy := speakeasy31(t)
	loadUnchecked(t, speakeasy)
	var out []*paramTarget
	for _, file := range []string{"testdata/params31.yaml", "testdata/params30.yaml", exampleDoc, petstore(t), careRequest(t), speakeasy} {
		d, key, err := loadDocument(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = documents.Delete(key) })
		pt := &paramTarget{name: file, doc: d}
		for template, item := range d.model.Paths.PathItems.FromOldest() {
			pt.templates = append(pt.templates, template)
			params := slices.Clone(item.Parameters)
			for _, op := range item.GetOperations().FromOldest() {
				params = append(params, op.Parameters...)
			}
			for _, p := range params {
				switch p.In {
				case helpers.Query:
					pt.query = append(pt.query, p.Name)
				case helpers.Header:
					pt.headers = append(pt.headers, p.Name)
				}
			}
		}
		out = append(out, pt)
	}
	return out
}

// libraryMatch is how api_openapi matched requests before the trie: the
// library's router, then the servers' base paths.
func (d *document) libraryMatch(r *http.Request) (*router.Route, error) {
	route, err := d.router.FindRoute(r)
	if route != nil && !d.onBase(r.URL.EscapedPath(), route.RequestPath) {
		return nil, router.ErrPathNotFound
	}
	if err != nil {
		if errors.Is(err, router.ErrMethodNotAllowed) && route != nil {
			return route, router.ErrMethodNotAllowed
		}
		return nil, router.ErrPathNotFound
	}
	return route, nil
}

// agree sends r to the trie and paramPlan and to the library: both find the
// same operation (or the same 404, or 405 on the same path item), and both
// accept or refuse its parameters, at the same pointers. It reports
// whether the trie matched and whether a paramPlan passed or refused.
func (pt *paramTarget) agree(t *testing.T, r *http.Request) (byTrie, passed, refused bool) {
	t.Helper()
	d := pt.doc
	m, err := d.match(r, new(matched))
	route, libErr := d.libraryMatch(r)
	what := r.Method + " " + r.URL.String()
	if !errors.Is(err, libErr) && (err != nil || libErr != nil) {
		t.Fatalf("%s: %s: ours %v, library %v", pt.name, what, err, libErr)
	}
	if err != nil {
		if m != nil && m.PathItem != route.PathItem {
			t.Fatalf("%s: %s: 405 on another path item: ours %s, library %s", pt.name, what, m.Path, route.Path)
		}
		return m != nil && m.byTrie, false, false
	}
	if m.Operation != route.Operation {
		t.Fatalf("%s: %s: ours %s, library %s", pt.name, what, m.Path, route.Path)
	}
	ours := d.validateParams(r, m)
	var lib []fieldError
	if d.params[route.Operation] {
		if ok, verrs := d.validator.ValidateHttpRequestSyncWithPathItem(r, route.PathItem, route.Path); !ok {
			lib = fieldErrors(verrs)
		}
	}
	if (len(ours) == 0) != (len(lib) == 0) {
		t.Fatalf("%s: %s (%s): ours %+v, library %+v", pt.name, what, r.Header, ours, lib)
	}
	if len(ours) < maxErrors && len(lib) < maxErrors && !slices.Equal(pointers(ours), pointers(lib)) {
		t.Fatalf("%s: %s (%s): pointers: ours %+v, library %+v", pt.name, what, r.Header, ours, lib)
	}
	planned := m.byTrie && d.plans[m.Operation] != nil
	return m.byTrie, planned && len(ours) == 0, planned && len(ours) > 0
}

func pointers(errs []fieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Pointer)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var paramValues = []string{"1", "0", "-1", "42", "50", "51", "1.0", "1.5", "2", "2.0", "0.5", "1e3", "01", " 5", "5 ", "abc", "ab",
	"a b", "asc", "desc", "full", "true", "false", "TRUE", "t", "10", "30", "99999999999999999999", "9007199254740993", "",
	"abcdefghij", "ord_1", "ord_1042", "A-100", "%41", "%zz", "x+y", "é", "0x10", "NaN", "Inf", "1_000", "a,b", ".", "..",
	"3", "16", "32", "sold", "available", "0a1f", "null", "-0", "1e400", "me", "new", "a%2Fb", "a;b", "[x]"}

var methods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE", "QUERY"}

// randomRequest builds a request on one of pt's templates, or near one.
func (pt *paramTarget) randomRequest(rng *rand.Rand) *http.Request {
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	prefix := pick(pt.doc.bases)
	if rng.IntN(4) == 0 {
		prefix = pick([]string{"", "/v1", "/api", "/prod/api", "/x", "/api/v3"})
	}
	var b strings.Builder
	b.WriteString(prefix)
	template := pick(pt.templates)
	method := pick(methods)
	if rng.IntN(4) > 0 {
		var own []string
		for m := range pt.doc.model.Paths.PathItems.GetOrZero(template).GetOperations().FromOldest() {
			own = append(own, strings.ToUpper(m))
		}
		method = pick(own)
	}
	for _, seg := range splitTrimmed(template) {
		b.WriteByte('/')
		switch {
		case strings.HasPrefix(seg, "{") || rng.IntN(10) == 0:
			v := pick(paramValues)
			if rng.IntN(8) == 0 {
				v = url.PathEscape(v)
			}
			b.WriteString(strings.ReplaceAll(v, " ", "%20"))
		default:
			b.WriteString(seg)
		}
	}
	switch rng.IntN(24) {
	case 0:
		b.WriteByte('/')
	case 1:
		b.WriteString("//")
	case 2:
		b.WriteString("#top")
	}
	if rng.IntN(3) > 0 {
		b.WriteByte('?')
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString(pick([]string{"&", "&", "&", ";"}))
			}
			b.WriteString(url.QueryEscape(pick(append(slices.Clone(pt.query), "other", "a[b]", "limit", "q"))))
			b.WriteByte('=')
			v := pick(paramValues)
			if rng.IntN(2) == 0 {
				v = url.QueryEscape(v)
			}
			b.WriteString(strings.ReplaceAll(v, " ", "+"))
		}
	}
	u, err := url.Parse(b.String())
	if err != nil {
		return nil
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Method = method
	r.URL = u
	for _, h := range pt.headers {
		if rng.IntN(3) > 0 {
			r.Header.Set(h, pick(paramValues))
		}
	}
	return r
}

// TestParamsAgreeWithLibrary sends thousands of random requests (fixed seed)
// to each document, through the trie and the compiled parameters and
// through the library's router and validator: both find the same
// operation and accept or refuse the same parameters.
func TestParamsAgreeWithLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, pt := range paramTargets(t) {
		matched, passed, refused, total := 0, 0, 0, 0
		for range 3000 { // FuzzParamsAgreeWithLibrary explores further
			r := pt.randomRequest(rng)
			if r == nil {
				continue
			}
			total++
			m, p, f := pt.agree(t, r)
			matched, passed, refused = matched+b2i(m), passed+b2i(p), refused+b2i(f)
		}
		// The trie must match most requests, and the compiled parameters
		// must both pass and refuse many.
		if matched < total/10 || passed < 20 || refused < 20 {
			t.Errorf("%s: of %d requests the trie matched %d, the compiled parameters passed %d, refused %d",
				pt.name, total, matched, passed, refused)
		}
	}
}

// FuzzParamsAgreeWithLibrary is TestParamsAgreeWithLibrary with the
// fuzzer's paths, queries and header values.
func FuzzParamsAgreeWithLibrary(f *testing.F) {
	targets := paramTargets(f)
	f.Add("GET", "/v1/items/42", "sort=asc&limit=5", "3")
	f.Add("GET", "/orders/ord_1042/items/A-100", "", "")
	f.Add("DELETE", "/api/users/7", "fields=ab", "x")
	f.Fuzz(func(t *testing.T, method, target, query, header string) {
		u, err := url.Parse(target)
		if err != nil || !plainMethod(method) && method != "QUERY" {
			return
		}
		u.RawQuery = query
		for _, pt := range targets {
			r := httptest.NewRequest("GET", "/", nil)
			r.Method, r.URL = method, u
			for _, h := range pt.headers {
				r.Header[http.CanonicalHeaderKey(h)] = []string{header}
			}
			pt.agree(t, r)
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
