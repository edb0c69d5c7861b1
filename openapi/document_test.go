package openapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// An invalid document is a config error that names the file and the JSON
// pointer of what is wrong.
func TestInvalidDocuments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, dir, name, text) }
	tests := []struct {
		name, file string
		want       []string
	}{
		{"real 3.1 document with a field OpenAPI does not have", specFile(t, "github.com/pb33f/libopenapi", "vendor-extensions-test.yaml"),
			[]string{"vendor-extensions-test.yaml", "/paths/~1resource~1{resourceId}/delete/responseBody (line 5987): not a field OpenAPI allows here"}},
		{"real 3.1 document breaking the schema", specFile(t, "github.com/pb33f/libopenapi-validator", "invalid_31.yaml"),
			// Its first violation in the file: the title, a number.
			[]string{"invalid_31.yaml", "/info/title (line 3)"}},
		{"wrong type", write("t.yaml", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses: 7\n"),
			[]string{"t.yaml", "/paths/~1a/get/responses"}},
		{"not yaml", write("y.yaml", "openapi: [\n"), []string{"y.yaml"}},
		{"swagger 2", write("s.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n"), []string{"s.yaml"}},
		{"no operation", write("e.yaml", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"), []string{"e.yaml", "/paths"}},
		{"missing file", filepath.Join(dir, "none.yaml"), []string{"none.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			o := &OpenAPI{File: tt.file}
			err := o.Provision(ctx)
			if err == nil {
				_ = o.Cleanup()
				t.Fatal("provisioned an invalid document")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// A reload that keeps the document unchanged reuses its compiled form; a
// changed file is compiled anew.
func TestDocumentPool(t *testing.T) {
	src, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "api.yaml")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	a := provisioned(t, &OpenAPI{File: file})
	b := provisioned(t, &OpenAPI{File: file})
	if a.doc != b.doc {
		t.Fatal("an unchanged document was compiled twice")
	}
	if err := os.WriteFile(file, append(src, []byte("\n# changed\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	c := provisioned(t, &OpenAPI{File: file})
	if c.doc == a.doc {
		t.Fatal("a changed document was not compiled again")
	}
}
