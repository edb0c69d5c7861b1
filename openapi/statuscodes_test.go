package openapi

import (
	"slices"
	"strings"
	"testing"
)

func TestQuoteStatusCodes(t *testing.T) {
	tests := []struct {
		name, in, want string
		quoted         []string
	}{
		{"bare codes under an operation",
			"paths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n        '404':\n          description: no\n        default:\n          description: x\n",
			"paths:\n  /a:\n    get:\n      responses:\n        \"200\":\n          description: ok\n        '404':\n          description: no\n        default:\n          description: x\n",
			[]string{"line 5: 200"}},
		{"flow mapping, two on a line",
			"paths:\n  /a:\n    post:\n      responses: {201: {description: c}, 400: {description: b}}\n",
			"paths:\n  /a:\n    post:\n      responses: {\"201\": {description: c}, \"400\": {description: b}}\n",
			[]string{"line 4: 201", "line 4: 400"}},
		{"a number that is no status code stays", "paths:\n  /a:\n    get:\n      responses:\n        42:\n          description: x\n",
			"paths:\n  /a:\n    get:\n      responses:\n        42:\n          description: x\n", nil},
		{"numbers elsewhere stay", "info:\n  200: x\npaths:\n  /a:\n    x-codes:\n      200: y\n",
			"info:\n  200: x\npaths:\n  /a:\n    x-codes:\n      200: y\n", nil},
		{"JSON is left alone", `{"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}`,
			`{"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}`, nil},
		{"not YAML", "paths: [\n", "paths: [\n", nil},
		{"after multibyte text on the line", "paths:\n  /é:\n    get:\n      responses: {é: 1, 500: {description: e}}\n",
			"paths:\n  /é:\n    get:\n      responses: {é: 1, \"500\": {description: e}}\n", []string{"line 4: 500"}},
	}
	for _, tt := range tests {
		got, quoted := quoteStatusCodes([]byte(tt.in))
		if string(got) != tt.want || !slices.Equal(quoted, tt.quoted) {
			t.Errorf("%s:\n got %q %v\nwant %q %v", tt.name, got, quoted, tt.want, tt.quoted)
		}
	}
}

// A document whose only flaw is bare status codes loads, and says so; its
// other errors keep their line numbers.
func TestBareStatusCodesLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, dir, name, text) }
	const head = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n"
	doc, key, err := loadDocument(write("ok.yaml", head))
	if err != nil {
		t.Fatal(err)
	}
	defer documents.Delete(key) //nolint:errcheck
	if !slices.Equal(doc.quoted, []string{"line 7: 200"}) {
		t.Fatalf("quoted %v", doc.quoted)
	}
	_, _, err = loadDocument(write("bad.yaml", head+"        404:\n          description: 7\n"))
	if err == nil || !strings.Contains(err.Error(), "(line 10)") {
		t.Fatalf("a later error's line: %v", err)
	}
}
