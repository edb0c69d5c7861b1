package openapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/router"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// bodyTarget is one operation with a JSON request body.
type bodyTarget struct {
	name   string
	doc    *document
	route  *router.Route
	ctype  string
	seeds  []string
	schema *bodySchema
}

// bodyTargets returns the operations the differential tests send bodies to:
// the demo's order, the Petstore's pet, Speakeasy's type arrays and oneOf,
// and the keyword documents.
func bodyTargets(t testing.TB) []*bodyTarget {
	t.Helper()
	speakeasy := speakeasy31(t)
	loadUnchecked(t, speakeasy)
	specs := []struct {
		file, method, path, ctype string
		seeds                     []string
	}{
		{speakeasy, "POST", "/anything/requestBodies/post/nullableRequiredObject", "application/json", []string{
			`null`, `{"required":1,"optional":"o"}`}},
		{speakeasy, "POST", "/anything/typedObjectOneOf", "application/json", []string{`{"type":"obj2","value":"v"}`}},
		{speakeasy, "POST", "/anything/nullableOneOfInObject", "application/json", []string{
			`{"OneOfOne":true,"NullableOneOfOne":null,"NullableOneOfTwo":3}`, `{"OneOfOne":false,"NullableOneOfOne":true,"NullableOneOfTwo":null}`}},
		{speakeasy, "POST", "/anything/typedObjectNullableOneOf", "application/json", []string{`null`, `{"type":"obj1","value":"v"}`}},
		{exampleDoc, "POST", "/orders", "application/json", []string{validOrder, string(order1K),
			`{"items":[{"sku":"TEA-1","quantity":1}],"note":"ring twice","delivery":{"address":{"street":"Main 1","city":"Bern"}}}`}},
		{petstore(t), "POST", "/api/v3/pet", "application/json", []string{validPet,
			`{"name":"a","photoUrls":[],"tags":[{"id":1,"name":"x"}],"status":"sold"}`}},
		{"testdata/keywords31.yaml", "POST", "/k", "application/json", []string{
			`{"id":"abc","kind":"k1","ghost":0,"code":"abcdx","level":2.5,"price":1.75,"tags":["a","bb"],"meta":{"x":1},"any":{"z":[1]},"choice":"hello","one":3,"both":{"a":"s","b":1},"notnull":0}`,
			`{"id":"a_1","kind":"k1","ghost":null,"level":null,"choice":7,"one":7.5,"both":{"a":"t"}}`}},
		{"testdata/keywords31.yaml", "POST", "/opt", "application/vnd.k+json", []string{`[1,true,-2]`, `null`, `[]`}},
		{"testdata/keywords30.yaml", "POST", "/k", "application/json", []string{
			`{"n":null,"s":null,"e":null,"f":1.5,"obj":null,"list":["a",1,null]}`,
			`{"n":2,"s":"a","e":"x","obj":{"q":true},"list":[]}`}},
	}
	var out []*bodyTarget
	for _, sp := range specs {
		d, key, err := loadDocument(sp.file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = documents.Delete(key) })
		r := httptest.NewRequest(sp.method, sp.path, nil)
		route, err := d.router.FindRoute(r)
		if err != nil {
			t.Fatalf("%s %s: %v", sp.file, sp.path, err)
		}
		mt := route.Operation.RequestBody.Content.GetOrZero(sp.ctype)
		s := d.bodies[mt]
		if s == nil {
			t.Fatalf("%s %s: the body schema was not compiled", sp.file, sp.path)
		}
		// The comparison means something only where the library compiles
		// the schema (it refuses every body where it cannot).
		if _, err := schema_validation.CompileSchemaForValidation(mt.Schema.Schema(), schema_validation.SchemaValidationPurposeRequestBody,
			config.NewValidationOptions(), helpers.VersionToFloat(d.model.Version)); err != nil {
			t.Fatalf("%s %s: the library cannot compile the schema: %v", sp.file, sp.path, err)
		}
		out = append(out, &bodyTarget{name: sp.file + " " + sp.path, doc: d, route: route, ctype: sp.ctype, seeds: sp.seeds, schema: s})
	}
	return out
}

// verdicts returns whether bodySchema and the library accept body.
func (bt *bodyTarget) verdicts(body []byte) (ours, library bool, errs []fieldError) {
	r := httptest.NewRequest("POST", bt.route.Path, bytes.NewReader(body))
	r.Header.Set("Content-Type", bt.ctype)
	errs = bt.doc.validateBody(r, bt.route, body)
	r = httptest.NewRequest("POST", bt.route.Path, bytes.NewReader(body))
	r.Header.Set("Content-Type", bt.ctype)
	ok, _ := bt.doc.library.ValidateRequestBodyWithPathItem(r, bt.route.PathItem, bt.route.Path)
	return len(errs) == 0, ok, errs
}

func (bt *bodyTarget) agree(t *testing.T, body []byte) bool {
	t.Helper()
	ours, lib, errs := bt.verdicts(body)
	if ours != lib {
		t.Fatalf("%s: %q: ours %v (%+v), library %v", bt.name, body, ours, errs, lib)
	}
	if !ours && (len(errs) == 0 || len(errs) > maxErrors) {
		t.Fatalf("%s: %q: %d errors", bt.name, body, len(errs))
	}
	return ours
}

// TestBodyAgreesWithLibrary sends the seeds and thousands of mutations of
// them (fixed random seed) to bodySchema and to the library: both accept or
// both refuse each body.
func TestBodyAgreesWithLibrary(t *testing.T) {
	// Per seed; FuzzBodyAgreesWithLibrary explores further.
	const mutations = 600
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bt := range bodyTargets(t) {
		for _, seed := range bt.seeds {
			if ours, lib, errs := bt.verdicts([]byte(seed)); !ours || !lib {
				t.Fatalf("%s: seed %s: ours %v %+v, library %v", bt.name, seed, ours, errs, lib)
			}
			accepted := 0
			for range mutations {
				if bt.agree(t, mutate(rng, []byte(seed))) {
					accepted++
				}
			}
			// Both verdicts must be well represented.
			if accepted < mutations/75 || accepted > mutations-mutations/75 {
				t.Errorf("%s: %s: %d of %d mutations pass", bt.name, seed, accepted, mutations)
			}
		}
		for _, b := range []string{"", " ", "\n\t", "null", "{}", "[]", "1e400", `{"a":1} {}`, `{"id":"abc","id":"abc"}`,
			`{"items":[],"items":[]}`, `{"no\u0074e":"x"}`, "\xef\xbb\xbf{}", `{"a":"\ud800"}`, "[" + strings.Repeat("[", 10001)} {
			bt.agree(t, []byte(b))
		}
	}
}

// FuzzBodyAgreesWithLibrary is TestBodyAgreesWithLibrary with the fuzzer's
// bodies, sent to each target.
func FuzzBodyAgreesWithLibrary(f *testing.F) {
	targets := bodyTargets(f)
	for _, bt := range targets {
		for _, s := range bt.seeds {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, bt := range targets {
			bt.agree(t, body)
		}
	})
}

// mutate changes a JSON body: a value of another type or at a boundary, a
// key dropped or added, or (one time in eight) its bytes.
func mutate(rng *rand.Rand, body []byte) []byte {
	if rng.IntN(8) == 0 {
		b := slices.Clone(body)
		switch i := rng.IntN(len(b)); rng.IntN(3) {
		case 0:
			return b[:i]
		case 1:
			return slices.Insert(b, i, `"{}[],:0\`[rng.IntN(9)])
		default:
			b[i] = byte(rng.IntN(256))
			return b
		}
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return body
	}
	for range 1 + rng.IntN(3) {
		v = mutateValue(rng, v, 0)
	}
	out, _ := json.Marshal(v)
	return out
}

var replacements = []any{nil, true, false, 0.0, 1.0, -1.0, 0.5, 2.5, 3.0, 3.5, 5.0, 7.0, 9.0, 10.0, 99.0, 100.0, 100.25, 1e300, -3.0,
	"", "a", "ab", "abc", "abcdx", "TEA-1", "tea-1", "hello", "three", "k1", "shop", "locker", "sold", "é", "ab\ncd", strings.Repeat("x", 501),
	map[string]any{}, []any{}, []any{1.0}, map[string]any{"a": "s"}}

// replacement returns a fresh copy of a random replacement.
func replacement(rng *rand.Rand) any {
	b, _ := json.Marshal(replacements[rng.IntN(len(replacements))])
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func mutateValue(rng *rand.Rand, v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		switch op := rng.IntN(6); {
		case op == 0 && len(keys) > 0:
			delete(x, keys[rng.IntN(len(keys))])
		case op == 1:
			x[[]string{"extra", "password", "a", "b", "id", "note", "pickup", "ghost", "x"}[rng.IntN(9)]] = replacement(rng)
		case len(keys) > 0 && depth < 6:
			k := keys[rng.IntN(len(keys))]
			x[k] = mutateValue(rng, x[k], depth+1)
		}
		return x
	case []any:
		switch op := rng.IntN(5); {
		case op == 0 && len(x) > 0:
			return x[:len(x)-1]
		case op == 1 && len(x) > 0:
			return append(x, x[0])
		case len(x) > 0 && depth < 6:
			i := rng.IntN(len(x))
			x[i] = mutateValue(rng, x[i], depth+1)
			return x
		}
	}
	return replacement(rng)
}
