package apigate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"
	"github.com/apigate/caddy-apigate/notify"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adapt(t testing.TB, input string) (string, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	return string(out), err
}

// routeHandlers returns the handlers of the first route, compacted.
func mustAdapt(t *testing.T, input string) string {
	t.Helper()
	out, err := adapt(t, input)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return out
}

func TestAdapt(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // fragments of the JSON, in order
	}{
		{
			name: "global option",
			input: `{
	api_gateway {
		redis redis://127.0.0.1:6379/0
		keys {
			prefix acme
			grace 24h
			max_age 90d
			warn_before 336h
		}
	}
}
:8080 {
	respond ok
}`,
			want: []string{`"api_gateway":{"redis":"redis://127.0.0.1:6379/0","keys":{"prefix":"acme","grace":86400000000000,"max_age":7776000000000000,"warn_before":1209600000000000}}`},
		},
		{
			name: "notify and refresh",
			input: `{
	api_gateway {
		keys {
			refresh 2s
		}
		notify https://hooks.example.com/x {
			secret {env.HOOK_SECRET}
			timeout 5s
		}
	}
}
:8080 {
	respond ok
}`,
			want: []string{`"api_gateway":{"keys":{"refresh":2000000000},"notify":{"url":"https://hooks.example.com/x","secret":"{env.HOOK_SECRET}","timeout":5000000000}}`},
		},
		{
			name:  "api_key_rotate in handle",
			input: ":8080 {\n\tapi_auth\n\thandle /rotate {\n\t\tapi_key_rotate {\n\t\t\tmin_age 0s\n\t\t}\n\t}\n}",
			want:  []string{`"handler":"api_auth"`, `{"handler":"api_key_rotate","min_age":0}`},
		},
		{
			name:  "api_auth default",
			input: ":8080 {\n\tapi_auth\n\trespond ok\n}",
			want:  []string{`{"handler":"api_auth"}`},
		},
		{
			name: "handler order and matcher",
			input: `:8080 {
	reverse_proxy 127.0.0.1:9
	basic_auth /x/* {
		u $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	api_authorize orders:read
	api_auth
	@staff api_scope staff reports
	respond @staff "hi"
}`,
			want: []string{`"handler":"api_auth"`, `"handler":"api_authorize"`, `"handler":"authentication"`, `"api_scope":["staff","reports"]`, `"handler":"reverse_proxy"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustAdapt(t, tt.input)
			rest := out
			for _, frag := range tt.want {
				i := strings.Index(rest, frag)
				if i < 0 {
					t.Fatalf("missing (or out of order) %s\nin %s", frag, out)
				}
				rest = rest[i+len(frag):]
			}
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCaddyfileErrors checks that every mistake is a config error naming the
// line it is on.
func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, line, msg string
	}{
		{"global unknown", "{\n\tapi_gateway {\n\t\tfoo\n\t}\n}\n:80", "Caddyfile:3", "unrecognized"},
		{"global bad duration", "{\n\tapi_gateway {\n\t\tkeys {\n\t\t\tgrace soon\n\t\t}\n\t}\n}\n:80", "Caddyfile:4", "invalid duration"},
		{"global negative", "{\n\tapi_gateway {\n\t\tkeys {\n\t\t\tmax_age -1h\n\t\t}\n\t}\n}\n:80", "Caddyfile:4", "negative"},
		{"global keys dup", "{\n\tapi_gateway {\n\t\tkeys {\n\t\t\tprefix a\n\t\t\tprefix b\n\t\t}\n\t}\n}\n:80", "Caddyfile:5", "duplicate"},
		{"global keys extra arg", "{\n\tapi_gateway {\n\t\tkeys {\n\t\t\tgrace 1h 2h\n\t\t}\n\t}\n}\n:80", "Caddyfile:4", "wrong argument count"},
		{"global redis no url", "{\n\tapi_gateway {\n\t\tredis\n\t}\n}\n:80", "Caddyfile:3", "wrong argument count"},
		{"notify without secret", "{\n\tapi_gateway {\n\t\tnotify http://x/ {\n\t\t\ttimeout 1s\n\t\t}\n\t}\n}\n:80", "Caddyfile:", "notify: " + notify.ErrNoSecret.Error()},
		{"notify unknown", "{\n\tapi_gateway {\n\t\tnotify http://x/ {\n\t\t\tsecret s\n\t\t\tretries 3\n\t\t}\n\t}\n}\n:80", "Caddyfile:5", "unrecognized"},
		{"notify no url", "{\n\tapi_gateway {\n\t\tnotify\n\t}\n}\n:80", "Caddyfile:3", "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(t, tt.input)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.line) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q, want it to name %s and say %q", err, tt.line, tt.msg)
			}
		})
	}
}

func FuzzCaddyfileGlobal(f *testing.F) {
	gatewaytest.FuzzDirective(f, []string{
		"api_gateway {\n keys {\n prefix a\n grace 1h\n max_age 2d\n warn_before 3h\n }\n}",
		"api_gateway {\n redis redis://x\n}", "api_gateway {\n keys {\n grace -1\n }\n}", "api_gateway x",
		"api_gateway {\n notify http://h/ {\n secret whsec_x\n timeout 1s\n }\n}", "api_gateway {\n notify {\n }\n}",
	}, func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err })
}

// TestAdaptSigning: the signing block of the api_gateway option, and its
// mistakes.
func TestAdaptSigning(t *testing.T) {
	out := mustAdapt(t, "{\n\tapi_gateway {\n\t\tsigning {\n\t\t\talgorithm ES256\n\t\t\trotate_every 720h\n\t\t}\n\t}\n}\nexample.com {\n\trespond ok\n}")
	if !strings.Contains(out, `"api_gateway":{"signing":{"algorithm":"ES256","rotate_every":2592000000000000}}`) {
		t.Fatalf("app: %s", out)
	}
	for name, tc := range map[string]struct{ block, want string }{
		"bad algorithm":   {"signing {\n algorithm RS256\n}", "not EdDSA or ES256"},
		"short rotation":  {"signing {\n rotate_every 10ms\n}", "at least 1s"},
		"unknown signing": {"signing {\n kid x\n}", "unrecognized"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := adapt(t, "{\n\tapi_gateway {\n"+tc.block+"\n\t}\n}\nexample.com {\n\trespond ok\n}")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func adaptFile(src []byte, name string) ([]byte, []caddyconfig.Warning, error) {
	return caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": name})
}
