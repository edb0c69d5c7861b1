package apigate

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// inspectAdapt adapts a site block holding the given directives and returns
// the first handler of its route.
func inspectAdapt(t *testing.T, directives string) (map[string]any, error) {
	t.Helper()
	src := "{\n\tadmin off\n}\n:8080 {\n" + directives + "\n\trespond ok\n}\n"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []map[string]any `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0], nil
}

func TestInspectAdapt(t *testing.T) {
	h, err := inspectAdapt(t, `
	respond /never 404
	api_auth
	api_inspect {
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
	}`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"audit":{"bodies":4096},"block":["sqli","xss"],"content_types":["application/json","application/*+json"],"handler":"api_inspect","json_depth":32,"mask":{"card":true,"email":true,"regex":[{"name":"ssn","pattern":"\\d{3}-\\d{2}-\\d{4}"},{"name":"iban","pattern":"[A-Z]{2}\\d{2}[A-Z0-9]{11,30}"}]},"max_body":1000000,"paths":"strict"}`
	if string(got) != want {
		t.Fatalf("adapted to\n%s\nwant\n%s", got, want)
	}
	// The contract's order: api_inspect first, before api_auth.
	h, err = inspectAdapt(t, "\tapi_auth\n\tapi_inspect {\n\t\taudit\n\t}")
	if err != nil || h["handler"] != "api_inspect" {
		t.Fatalf("first handler %v, %v", h["handler"], err)
	}
}

func TestInspectCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"api_inspect {\n\t\tbogus 1\n\t}", "unrecognized subdirective"},
		{"api_inspect {\n\t\tmax_body 1MB\n\t\tmax_body 2MB\n\t}", "duplicate"},
		{"api_inspect {\n\t\tmax_body lots\n\t}", "invalid size"},
		{"api_inspect {\n\t\tmax_body\n\t}", "argument"},
		{"api_inspect {\n\t\tjson_depth 0\n\t}", "positive integer"},
		{"api_inspect {\n\t\tjson_depth deep\n\t}", "positive integer"},
		{"api_inspect {\n\t\tblock sqli rce\n\t}", "unknown attack"},
		{"api_inspect {\n\t\tpaths loose\n\t}", "strict or off"},
		{"api_inspect {\n\t\tcontent_types json\n\t}", "not a media type"},
		{"api_inspect {\n\t\tmask\n\t}", "needs card"},
		{"api_inspect {\n\t\tmask phone\n\t}", "unknown kind"},
		{"api_inspect {\n\t\tmask card card\n\t}", "twice"},
		{"api_inspect {\n\t\tmask regex x (\n\t}", "mask regex x"},
		{"api_inspect {\n\t\tmask regex onlyname\n\t}", "name and a pattern"},
		{"api_inspect {\n\t\tmask regex e a*\n\t}", "empty string"},
		{"api_inspect {\n\t\taudit {\n\t\t\tbodies 1KB\n\t\t\tbodies 2KB\n\t\t}\n\t}", "duplicate"},
		{"api_inspect {\n\t\taudit {\n\t\t\tverbose\n\t\t}\n\t}", "unrecognized"},
		{"api_inspect extra", "argument"},
	} {
		_, err := inspectAdapt(t, "\t"+c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error with %q", c.in, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%q: error does not name the line: %v", c.in, err)
		}
	}
}

func TestInspectValidate(t *testing.T) {
	for _, in := range []*Inspect{
		{MaxBody: -1}, {JSONDepth: -1}, {Paths: "loose"}, {Block: []string{"rce"}},
		{ContentTypes: []string{"[bad/x"}}, {Audit: &AuditConfig{Bodies: -1}},
	} {
		if err := in.Validate(); err == nil {
			t.Errorf("%+v validated", in)
		}
	}
}

// TestInspectExampleAdapts keeps examples/inspect.Caddyfile and its JSON in
// step, and the Grafana dashboard on metrics the plugin has.
func TestInspectExampleAdapts(t *testing.T) {
	src, err := os.ReadFile("examples/inspect.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "examples/inspect.Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("examples/inspect.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("examples/inspect.json is out of date (regenerate with: go run ./cmd/caddy adapt --config examples/inspect.Caddyfile --pretty > examples/inspect.json)")
	}

	dash, err := os.ReadFile("examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatal(err)
	}
	known := []string{"caddy_apigate_decisions_total", "caddy_apigate_rejections_total", "caddy_apigate_handler_duration_seconds_bucket",
		"caddy_apigate_route_requests_total", "caddy_apigate_route_duration_seconds_bucket"}
	metricName := regexp.MustCompile(`caddy_apigate_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q queries no plugin metric: %s", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !slices.Contains(known, n) {
					t.Errorf("panel %q queries %s, which the plugin does not export", p.Title, n)
				}
			}
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
