package inspect

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshal parses api_inspect's Caddyfile tokens.
func unmarshal(src string) (*Inspect, error) {
	in := new(Inspect)
	return in, in.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
}

func TestInspectCaddyfile(t *testing.T) {
	in, err := unmarshal(`api_inspect {
		max_body 1MB
		json_depth 32
		content_types application/json application/*+json
		block sqli xss
		paths strict
		mask card email regex ssn \d{3}-\d{2}-\d{4} {
			regex iban [A-Z]{2}\d{2}[A-Z0-9]{11,30}
		}
		audit {
			bodies 4KiB
		}
		mode report
	}`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(in)
	want := `{"max_body":1000000,"json_depth":32,"content_types":["application/json","application/*+json"],"block":["sqli","xss"],"paths":"strict","mask":{"card":true,"email":true,"regex":[{"name":"ssn","pattern":"\\d{3}-\\d{2}-\\d{4}"},{"name":"iban","pattern":"[A-Z]{2}\\d{2}[A-Z0-9]{11,30}"}]},"audit":{"bodies":4096},"mode":"report"}`
	if string(got) != want {
		t.Fatalf("parsed to\n%s\nwant\n%s", got, want)
	}
	for src, want := range map[string]string{
		"api_inspect {\n\taudit\n}":                 `{"audit":{}}`,
		"api_inspect {\n\tmode enforce\n}":          `{"mode":"enforce"}`,
		"api_inspect {\n\tmask {\n\t\tcard\n\t}\n}": `{"mask":{"card":true}}`,
	} {
		in, err := unmarshal(src)
		if got, _ := json.Marshal(in); err != nil || string(got) != want {
			t.Errorf("%q: %s, %v; want %s", src, got, err, want)
		}
	}
}

func TestInspectCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"api_inspect {\n\tbogus 1\n}", `api_inspect: unrecognized subdirective "bogus", at Testfile:2`},
		{"api_inspect {\n\tmax_body 1MB\n\tmax_body 2MB\n}", `api_inspect: duplicate subdirective "max_body", at Testfile:3`},
		{"api_inspect {\n\tmax_body lots\n}", `invalid size "lots"`},
		{"api_inspect {\n\tmax_body\n}", "argument"},
		{"api_inspect {\n\tjson_depth 0\n}", "positive integer"},
		{"api_inspect {\n\tjson_depth deep\n}", "positive integer"},
		{"api_inspect {\n\tjson_depth 1 2\n}", "argument"},
		{"api_inspect {\n\tblock sqli rce\n}", `api_inspect: block: unknown attack "rce" (want sqli, xss), at Testfile:2`},
		{"api_inspect {\n\tblock\n}", "argument"},
		{"api_inspect {\n\tcontent_types\n}", "argument"},
		{"api_inspect {\n\tpaths loose\n}", `api_inspect: paths must be strict or off, not "loose", at Testfile:2`},
		{"api_inspect {\n\tpaths strict off\n}", "argument"},
		{"api_inspect {\n\tmask\n}", "needs card"},
		{"api_inspect {\n\tmask phone\n}", "unknown kind"},
		{"api_inspect {\n\tmask card card\n}", "twice"},
		{"api_inspect {\n\tmask card {\n\t\tcard\n\t}\n}", "twice"},
		{"api_inspect {\n\tmask regex a x {\n\t\tregex a y\n\t}\n}", `regex "a" given twice`},
		{"api_inspect {\n\tmask regex onlyname\n}", "name and a pattern"},
		{"api_inspect {\n\tmask {\n\t\temail x\n\t}\n}", "argument"},
		{"api_inspect {\n\taudit {\n\t\tbodies 1KB\n\t\tbodies 2KB\n\t}\n}", "duplicate"},
		{"api_inspect {\n\taudit {\n\t\tverbose\n\t}\n}", "unrecognized"},
		{"api_inspect {\n\taudit 1KB\n}", "argument"},
		{"api_inspect {\n\tmode shadow\n}", `mode "shadow": want enforce or report, at Testfile:2`},
		{"api_inspect {\n\tmode\n}", "argument"},
		{"api_inspect extra", "argument"},
	} {
		_, err := unmarshal(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error with %q", c.in, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error does not name the line: %v", c.in, err)
		}
	}
}

func TestInspectCaddyfileUploadRate(t *testing.T) {
	for in, want := range map[string]string{
		"min_upload_rate 10KB/s":         `"min_upload_rate":10000`,
		"min_upload_rate 1KiB/s 2s":      `"min_upload_rate":1024,"upload_grace":2000000000`,
		"min_upload_rate off":            `"min_upload_rate":-1`,
		"max_body 1MB\n\t\tjson_depth 4": `"max_body":1000000,"json_depth":4`,
	} {
		h, err := unmarshal("api_inspect {\n\t\t" + in + "\n\t}")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, _ := json.Marshal(h)
		if !strings.Contains(string(got), want) {
			t.Errorf("%s: parsed to %s, want %s", in, got, want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"min_upload_rate", "argument"},
		{"min_upload_rate 10KB", "size per second"},
		{"min_upload_rate fast/s", "size per second"},
		{"min_upload_rate 0/s", "size per second"},
		{"min_upload_rate 10KB/s soon", `invalid duration "soon"`},
		{"min_upload_rate 10KB/s -1s", "must not be negative"},
		{"min_upload_rate 10KB/s 0s", "positive duration"},
		{"min_upload_rate off 2s", "argument"},
		{"min_upload_rate 1KB/s 1s 2s", "argument"},
		{"min_upload_rate 1KB/s\n\t\tmin_upload_rate 2KB/s", "duplicate"},
	} {
		_, err := unmarshal("api_inspect {\n\t\t" + c.in + "\n\t}")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error with %q", c.in, err, c.want)
		}
	}
}

// TestInspectValidate: what the configuration means is checked once, in
// Validate (or, for mask patterns, where Provision compiles them), in the
// words the Caddyfile uses for the same rule.
func TestInspectValidate(t *testing.T) {
	for _, c := range []struct {
		in   *Inspect
		want string
	}{
		{&Inspect{MaxBody: -1}, "max_body must not be negative"},
		{&Inspect{JSONDepth: -1}, "json_depth must not be negative"},
		{&Inspect{UploadGrace: -1}, "upload_grace must not be negative"},
		{&Inspect{Paths: "loose"}, `paths must be strict or off, not "loose"`},
		{&Inspect{Block: []string{"rce"}}, `block: unknown attack "rce" (want sqli, xss)`},
		{&Inspect{ContentTypes: []string{"[bad/x"}}, "is not a media type or pattern"},
		{&Inspect{ContentTypes: []string{"json"}}, `content_types: "json" is not a media type or pattern`},
		{&Inspect{Audit: &AuditConfig{Bodies: -1}}, "audit: bodies must not be negative"},
		{&Inspect{Mode: "shadow"}, `mode "shadow": want enforce or report`},
	} {
		if err := c.in.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.in, err, c.want)
		}
	}
	// The Caddyfile reads the same rules' arguments with the same words.
	for src, want := range map[string]string{
		"api_inspect {\n\tpaths loose\n}":        `paths must be strict or off, not "loose"`,
		"api_inspect {\n\tblock rce\n}":          `block: unknown attack "rce" (want sqli, xss)`,
		"api_inspect {\n\tmode shadow\n}":        `mode "shadow": want enforce or report`,
		"api_inspect {\n\tcontent_types json\n}": "",
	} {
		in, err := unmarshal(src)
		if want == "" {
			// A pattern's meaning is Validate's alone.
			if err != nil || in.Validate() == nil {
				t.Errorf("%q: parsed %v, validated %v", src, err, in.Validate())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
	for _, c := range []struct {
		mask MaskConfig
		want string
	}{
		{MaskConfig{Regex: []MaskRule{{Name: "x", Pattern: "("}}}, "mask regex x"},
		{MaskConfig{Regex: []MaskRule{{Name: "e", Pattern: "a*"}}}, "empty string"},
		{MaskConfig{Regex: []MaskRule{{Name: "a b", Pattern: "x"}}}, "name"},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := (&Inspect{Mask: &c.mask}).Provision(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.mask, err, c.want)
		}
	}
}

// FuzzCaddyfileInspect: any Caddyfile text for api_inspect parses or fails,
// never panics.
func FuzzCaddyfileInspect(f *testing.F) {
	for _, s := range []string{
		"api_inspect {\n max_body 1MB\n json_depth 3\n content_types a/b c/*\n block sqli xss\n paths off\n mask card email regex a b {\n regex c d\n }\n audit {\n bodies 1KB\n }\n}",
		"api_inspect {\n max_body 1MB\n min_upload_rate 10KB/s 2s\n}", "api_inspect {\n min_upload_rate off\n}",
		"api_inspect {\n mask\n}", "api_inspect {\n audit\n audit\n}", "api_inspect {{", "api_inspect {\n mask regex\n}",
		"api_inspect {\n mode report\n}", "api_inspect {\n mode\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		_ = new(Inspect).UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
	})
}
