package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// speakeasy31 is the OpenAPI 3.1 document of Speakeasy's SDK test API, as
// libopenapi keeps it in its test data: path templates, oneOf and type
// arrays in request bodies. api_openapi refuses it as it stands, for one
// detail (an operation with a responseBody field, which OpenAPI does not
// have); loadUnchecked compiles it without that check.
func speakeasy31(t testing.TB) string {
	return filepath.Join(filepath.Dir(specFile(t, "github.com/pb33f/libopenapi", "x")), "vendor-extensions-test.yaml")
}

// loadUnchecked compiles file without the document check and puts it in the
// pool, where Provision finds it. It is released when the test ends.
func loadUnchecked(t testing.TB, file string) *document {
	t.Helper()
	abs, _ := filepath.Abs(file)
	data, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	key := abs + "#" + hex.EncodeToString(sum[:])
	v, _, err := documents.LoadOrNew(key, func() (caddy.Destructor, error) { return compile(abs, data, false) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = documents.Delete(key) })
	return v.(*document)
}

func TestSpeakeasy31(t *testing.T) {
	file := speakeasy31(t)
	// Its bare status codes are read as strings; what the check still
	// refuses is a field OpenAPI does not have (responseBody).
	if _, _, err := loadDocument(file); err == nil || !strings.Contains(err.Error(), `/delete/responseBody (line 5987): not a field OpenAPI allows here`) {
		t.Fatalf("the document check: %v, want the responseBody field refused", err)
	}
	loadUnchecked(t, file)
	o := provisioned(t, &OpenAPI{File: file, ValidateRequest: true})
	const (
		rootArr = "/anything/requestBodies/post/nullableRequiredObject"
		shared  = "/anything/requestBodies/post/nullableRequiredSharedObject"
		typed   = "/anything/typedObjectOneOf"
		inObj   = "/anything/nullableOneOfInObject"
		prims   = "/anything/pathParams/str/test/bool/true/int/1/num/1.1"
		oneOfOK = `{"OneOfOne":true,"NullableOneOfOne":null,"NullableOneOfTwo":3}`
	)
	tests := []struct {
		name, method, target, body string
		want                       int
		pointer                    string
	}{
		{"root type array, null", "POST", rootArr, `null`, 200, ""},
		{"root type array, an object", "POST", rootArr, `{"required":1}`, 200, ""},
		{"root type array refuses a number", "POST", rootArr, `5`, 400, "/body"},
		// The library cannot compile this schema (it refuses every body);
		// the compiled body schema judges it.
		{"type array, null", "POST", shared, `{"NullableRequiredObj":null}`, 200, ""},
		{"type array, object", "POST", shared, `{"NullableRequiredObj":{"required":1},"NullableOptionalObj":null}`, 200, ""},
		{"type array refuses a string", "POST", shared, `{"NullableRequiredObj":"x"}`, 400, "/body/NullableRequiredObj"},
		{"required inside a type array", "POST", shared, `{"NullableRequiredObj":{"optional":"a"}}`, 400, "/body/NullableRequiredObj"},
		{"required property", "POST", shared, `{}`, 400, "/body"},
		{"oneOf of objects", "POST", typed, `{"type":"obj2","value":"v"}`, 200, ""},
		{"oneOf, no branch", "POST", typed, `{"type":"obj4","value":"v"}`, 400, "/body"},
		{"oneOf with null", "POST", inObj, oneOfOK, 200, ""},
		{"oneOf with null, a string", "POST", inObj, strings.Replace(oneOfOK, "3}", `"x"}`, 1), 400, "/body/NullableOneOfTwo"},
		{"not JSON", "POST", typed, `{"type":`, 400, "/body"},
		{"path template", "GET", prims, "", 200, ""},
		{"path template, integer", "GET", strings.Replace(prims, "int/1", "int/x", 1), "", 400, "/path/intParam"},
		{"path template, boolean", "GET", strings.Replace(prims, "bool/true", "bool/maybe", 1), "", 400, "/path/boolParam"},
		{"unknown path", "GET", "/nothing/here", "", 404, ""},
		{"other method", "PUT", typed, "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, next := serve(t, o, newRequest(tt.method, tt.target, tt.body, nil))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			switch tt.want {
			case 200:
				if !next.called || next.body != tt.body {
					t.Fatalf("upstream got %q (called %v), want the body untouched", next.body, next.called)
				}
			case 400:
				if errs := problemErrors(t, w.Body.String()); errs[0].Pointer != tt.pointer {
					t.Fatalf("errors %+v, want the first at %q", errs, tt.pointer)
				}
			case 405:
				if w.Header().Get("Allow") != "POST" {
					t.Fatalf("Allow %q", w.Header().Get("Allow"))
				}
			}
		})
	}
}
