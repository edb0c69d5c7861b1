package authn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adaptMap(t *testing.T, caddyfile string) (map[string]any, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

// authHandler digs the api_auth handler out of an adapted config.
func authHandler(t *testing.T, cfg map[string]any) map[string]any {
	t.Helper()
	var found map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "api_auth" && found == nil {
				found = x
				return
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg)
	if found == nil {
		t.Fatal("no api_auth handler in the adapted config")
	}
	return found
}

func TestAdaptIdentityProviderMethods(t *testing.T) {
	cfg, err := adaptMap(t, `{
	api_gateway {
		signing {
			algorithm ES256
			rotate_every 720h
		}
	}
}
example.com {
	api_auth {
		api_key
		jwt {
			jwks_url https://idp.example.com/.well-known/jwks.json
			issuer https://idp.example.com/
			audience orders-api
			algorithms ES256 RS256 EdDSA
			leeway 30s
			consumer_claim sub
			scopes_claim scope permissions
			claims email org_id
		}
		introspect https://idp.example.com/oauth2/introspect {
			client_id apigate
			client_secret {env.INTROSPECT_SECRET}
			cache 30s
		}
		client_cert {
			consumer san.dns
			scopes internal
		}
		upstream_token {
			header X-Apigate-Token
			ttl 60s
			audience orders
		}
	}
	handle /.well-known/jwks.json {
		route {
			api_jwks
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	h := authHandler(t, cfg)
	got, _ := json.Marshal(h)
	want := `{"handler":"api_auth","methods":[{"method":"api_key"},{"algorithms":["ES256","RS256","EdDSA"],"audience":["orders-api"],"claims":["email","org_id"],"consumer_claim":"sub","issuer":"https://idp.example.com/","jwks_url":"https://idp.example.com/.well-known/jwks.json","leeway":30000000000,"method":"jwt","scopes_claim":["scope","permissions"]},{"cache":30000000000,"client_id":"apigate","client_secret":"{env.INTROSPECT_SECRET}","method":"introspect","url":"https://idp.example.com/oauth2/introspect"},{"consumer":"san.dns","method":"client_cert","scopes":["internal"]}],"upstream_token":{"audience":"orders","header":"X-Apigate-Token","ttl":60000000000}}`
	if string(got) != want {
		t.Fatalf("adapted:\n%s\nwant:\n%s", got, want)
	}
	app, _ := json.Marshal(cfg["apps"].(map[string]any)["api_gateway"])
	if string(app) != `{"signing":{"algorithm":"ES256","rotate_every":2592000000000000}}` {
		t.Fatalf("app: %s", app)
	}
	if !strings.Contains(mustMarshal(cfg), `"handler":"api_jwks"`) {
		t.Fatal("no api_jwks handler")
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAdaptIdentityProviderErrors(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"two key sources":      {"jwt {\n jwks_url https://a/j\n secret abcdefghijabcdefghijabcdefghij12\n issuer x\n audience y\n}", "exactly one of"},
		"no key source":        {"jwt {\n issuer x\n audience y\n}", "exactly one of"},
		"no issuer":            {"jwt {\n jwks_url https://a/j\n audience y\n}", "issuer is required"},
		"no audience":          {"jwt {\n jwks_url https://a/j\n issuer x\n}", "audience is required"},
		"http jwks":            {"jwt {\n jwks_url http://idp.example.com/j\n issuer x\n audience y\n}", "must be https"},
		"hs with keys":         {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n algorithms HS256\n}", "needs a secret"},
		"none alg":             {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n algorithms none\n}", "not supported"},
		"unknown jwt sub":      {"jwt {\n jku https://a/j\n}", "unrecognized subdirective"},
		"duplicate jwt sub":    {"jwt {\n issuer x\n issuer y\n}", "duplicate"},
		"reserved claim":       {"jwt {\n claims id\n}", "cannot be exposed"},
		"bad leeway":           {"jwt {\n leeway soon\n}", "invalid duration"},
		"introspect no url":    {"introspect {\n client_id a\n}", "wrong argument count"},
		"introspect http":      {"introspect http://idp.example.com/i {\n client_id a\n client_secret b\n}", "must be https"},
		"introspect no id":     {"introspect https://idp/i {\n client_secret b\n}", "client_id and client_secret"},
		"introspect auth":      {"introspect https://idp/i {\n client_id a\n client_secret b\n auth_method jwt\n}", "auth_method"},
		"client_cert consumer": {"client_cert {\n consumer issuer\n}", "not one of"},
		"upstream no aud":      {"upstream_token {\n ttl 60s\n}", "audience is required"},
		"upstream long ttl":    {"upstream_token {\n ttl 2h\n audience o\n}", "ttl must be"},
		"upstream twice":       {"upstream_token {\n audience o\n}\nupstream_token {\n audience o\n}", "duplicate"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := adaptMap(t, "example.com {\n\tapi_auth {\n"+tc.block+"\n\t}\n}")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Caddyfile:") {
				t.Fatalf("error %v, want one naming a line and containing %q", err, tc.want)
			}
		})
	}
	for name, tc := range map[string]struct{ block, want string }{
		"bad algorithm":   {"signing {\n algorithm RS256\n}", "not EdDSA or ES256"},
		"short rotation":  {"signing {\n rotate_every 10ms\n}", "at least 1s"},
		"unknown signing": {"signing {\n kid x\n}", "unrecognized"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := adaptMap(t, "{\n\tapi_gateway {\n"+tc.block+"\n\t}\n}\nexample.com {\n\trespond ok\n}")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
