package authn

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseAuth parses an api_auth directive.
func parseAuth(t testing.TB, input string) (*Auth, error) {
	t.Helper()
	a := new(Auth)
	return a, a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
}

func TestUnmarshalAuth(t *testing.T) {
	a, err := parseAuth(t, `api_auth {
		api_key {
			header X-Key
			query key
		}
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
		lockout 10/1m 15m
		upstream_token {
			header X-Apigate-Token
			ttl 60s
			audience orders
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(a)
	want := `{"methods":[{"header":"X-Key","method":"api_key","query":"key"},{"algorithms":["ES256","RS256","EdDSA"],"audience":["orders-api"],"claims":["email","org_id"],"consumer_claim":"sub","issuer":"https://idp.example.com/","jwks_url":"https://idp.example.com/.well-known/jwks.json","leeway":30000000000,"method":"jwt","scopes_claim":["scope","permissions"]},{"cache":30000000000,"client_id":"apigate","client_secret":"{env.INTROSPECT_SECRET}","method":"introspect","url":"https://idp.example.com/oauth2/introspect"},{"consumer":"san.dns","method":"client_cert","scopes":["internal"]}],"upstream_token":{"header":"X-Apigate-Token","ttl":60000000000,"audience":"orders"},"lockout":{"failures":10,"window":60000000000,"duration":900000000000}}`
	if string(got) != want {
		t.Fatalf("parsed:\n%s\nwant:\n%s", got, want)
	}
	if a, err := parseAuth(t, "api_auth"); err != nil || len(a.MethodsRaw) != 0 {
		t.Fatalf("bare api_auth: %v %v", a.MethodsRaw, err)
	}
	k := new(KeyRotate)
	if err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser("api_key_rotate {\n\tmin_age 0s\n}")); err != nil || k.MinAge == nil || *k.MinAge != 0 {
		t.Fatalf("api_key_rotate: %v %v", k.MinAge, err)
	}
}

// TestCaddyfileErrors: every mistake of syntax or argument form is an error
// naming its line.
func TestCaddyfileErrors(t *testing.T) {
	for name, tc := range map[string]struct{ input, line, msg string }{
		"unknown method":       {"api_auth {\n\tpasswords\n}", ":2", `api_auth: unrecognized subdirective "passwords"`},
		"duplicate method":     {"api_auth {\n\tapi_key\n\tapi_key\n}", ":3", "duplicate"},
		"api_auth args":        {"api_auth foo bar", ":1", "wrong argument count"},
		"api_key unknown":      {"api_auth {\n\tapi_key {\n\t\tcookie x\n\t}\n}", ":3", "unrecognized"},
		"api_key header twice": {"api_auth {\n\tapi_key {\n\t\theader a\n\t\theader b\n\t}\n}", ":4", "duplicate"},
		"api_key header bare":  {"api_auth {\n\tapi_key {\n\t\theader\n\t}\n}", ":3", "wrong argument count"},
		"unknown jwt sub":      {"api_auth {\n\tjwt {\n\t\tjku https://a/j\n\t}\n}", ":3", "unrecognized subdirective"},
		"duplicate jwt sub":    {"api_auth {\n\tjwt {\n\t\tissuer x\n\t\tissuer y\n\t}\n}", ":4", "duplicate"},
		"bad leeway":           {"api_auth {\n\tjwt {\n\t\tleeway soon\n\t}\n}", ":3", "invalid duration"},
		"bad cache_size":       {"api_auth {\n\tjwt {\n\t\tcache_size lots\n\t}\n}", ":3", "invalid number"},
		"discovery with arg":   {"api_auth {\n\tjwt {\n\t\tdiscovery yes\n\t}\n}", ":3", "wrong argument count"},
		"introspect no url":    {"api_auth {\n\tintrospect {\n\t\tclient_id a\n\t}\n}", ":2", "wrong argument count"},
		"introspect dup":       {"api_auth {\n\tintrospect https://i/ {\n\t\tcache 1s\n\t\tcache 2s\n\t}\n}", ":4", "duplicate"},
		"client_cert scope":    {"api_auth {\n\tclient_cert {\n\t\tscopes a,b\n\t}\n}", ":3", "contains a comma"},
		"upstream twice":       {"api_auth {\n\tupstream_token {\n\t\taudience o\n\t}\n\tupstream_token {\n\t\taudience o\n\t}\n}", ":5", "duplicate"},
		"upstream bad ttl":     {"api_auth {\n\tupstream_token {\n\t\tttl -1s\n\t}\n}", ":3", "must not be negative"},
		"lockout no duration":  {"api_auth {\n\tlockout 10/1m\n}", ":2", "wrong argument count"},
		"lockout no rate":      {"api_auth {\n\tlockout 10 15m\n}", ":2", `invalid rate "10"`},
		"lockout zero":         {"api_auth {\n\tlockout 0/1m 15m\n}", ":2", "invalid rate"},
		"lockout soon":         {"api_auth {\n\tlockout 10/1m soon\n}", ":2", "invalid duration"},
		"lockout negative":     {"api_auth {\n\tlockout 10/1m -1s\n}", ":2", "must not be negative"},
		"lockout extra":        {"api_auth {\n\tlockout 10/1m 15m 1\n}", ":2", "wrong argument count"},
		"lockout twice":        {"api_auth {\n\tlockout 1/1m 1m\n\tlockout 1/1m 1m\n}", ":3", "duplicate"},
		"lockout block":        {"api_auth {\n\tlockout 1/1m 1m {\n\t\tx\n\t}\n}", ":3", "takes no block"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseAuth(t, tc.input)
			if err == nil || !strings.Contains(err.Error(), "Testfile"+tc.line) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one naming line %s and saying %q", err, tc.line, tc.msg)
			}
		})
	}
	for input, msg := range map[string]string{
		"api_key_rotate {\n\tevery 1h\n}":  "unrecognized",
		"api_key_rotate {\n\tmin_age x\n}": "invalid duration",
		"api_key_rotate x":                 "wrong argument count",
	} {
		err := new(KeyRotate).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want %q", input, err, msg)
		}
	}
	for input, msg := range map[string]string{"api_jwks x": "wrong argument count", "api_jwks {\n\tx\n}": "takes no block"} {
		if err := new(JWKSHandler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", input, err, msg)
		}
	}
}

// provisioned is a method of the api_auth Caddyfile block, provisioned as
// Caddy loads it (without the app: jwt and introspect need none).
func provisioned(t *testing.T, block string) interface{ Validate() error } {
	t.Helper()
	a, err := parseAuth(t, "api_auth {\n"+block+"\n}")
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		Method string `json:"method"`
	}
	raw := a.MethodsRaw[0]
	if err := json.Unmarshal(raw, &probe); err != nil {
		t.Fatal(err)
	}
	var m interface {
		Provision(caddy.Context) error
		Validate() error
	}
	switch probe.Method {
	case "jwt":
		m = new(JWTMethod)
	case "introspect":
		m = new(IntrospectMethod)
	case "client_cert":
		m = new(ClientCertMethod)
	default:
		t.Fatalf("method %s", probe.Method)
	}
	if err := json.Unmarshal(raw, m); err != nil {
		t.Fatal(err)
	}
	if err := m.Provision(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if c, ok := m.(caddy.CleanerUpper); ok {
		t.Cleanup(func() { c.Cleanup() }) //nolint:errcheck
	}
	return m
}

// TestValidateErrors: what the values mean is checked once, when the config
// is loaded (Validate), with one wording per rule.
func TestValidateErrors(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"two key sources":      {"jwt {\n jwks_url https://a/j\n secret abcdefghijabcdefghijabcdefghij12\n issuer x\n audience y\n}", "exactly one of"},
		"no key source":        {"jwt {\n issuer x\n audience y\n}", "exactly one of"},
		"no issuer":            {"jwt {\n jwks_url https://a/j\n audience y\n}", "issuer is required"},
		"no audience":          {"jwt {\n jwks_url https://a/j\n issuer x\n}", "audience is required"},
		"short secret":         {"jwt {\n secret short\n issuer x\n audience y\n}", "at least 32 bytes"},
		"http jwks":            {"jwt {\n jwks_url http://idp.example.com/j\n issuer x\n audience y\n}", "must be https"},
		"hs with keys":         {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n algorithms HS256\n}", "needs a secret"},
		"none alg":             {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n algorithms none\n}", "not supported"},
		"reserved claim":       {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n claims id\n}", "cannot be exposed"},
		"long leeway":          {"jwt {\n jwks_url https://a/j\n issuer x\n audience y\n leeway 10m\n}", "leeway above 5m"},
		"introspect http":      {"introspect http://idp.example.com/i {\n client_id a\n client_secret b\n}", "must be https"},
		"introspect no id":     {"introspect https://idp/i {\n client_secret b\n}", "client_id and client_secret"},
		"introspect auth":      {"introspect https://idp/i {\n client_id a\n client_secret b\n auth_method jwt\n}", "auth_method"},
		"introspect env":       {"introspect https://idp/i {\n client_id a\n client_secret {env.APIGATE_TEST_UNSET_SECRET}\n}", "client_secret is empty"},
		"client_cert consumer": {"client_cert {\n consumer issuer\n}", "not one of"},
	} {
		t.Run(name, func(t *testing.T) {
			err := provisioned(t, tc.block).Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	app := newFakeApp(nil)
	for name, tc := range map[string]struct {
		u    UpstreamTokenConfig
		want string
	}{
		"upstream no aud":     {UpstreamTokenConfig{}, "audience is required"},
		"upstream long ttl":   {UpstreamTokenConfig{TTL: caddy.Duration(2 * time.Hour), Audience: "o"}, "ttl must be"},
		"upstream bad header": {UpstreamTokenConfig{Header: "X Token", Audience: "o"}, "not a valid header name"},
	} {
		if err := tc.u.provision(app); err != nil {
			t.Fatal(err)
		}
		if err := tc.u.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		lc   LockoutConfig
		want string
	}{
		"too many failures": {LockoutConfig{Failures: 2_000_000, Window: caddy.Duration(time.Minute), Duration: caddy.Duration(time.Minute)}, "failures must be between"},
		"tiny window":       {LockoutConfig{Failures: 1, Window: caddy.Duration(time.Microsecond), Duration: caddy.Duration(time.Minute)}, "window must be between"},
		"no duration":       {LockoutConfig{Failures: 1, Window: caddy.Duration(time.Minute)}, "duration must be positive"},
	} {
		if err := tc.lc.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	if err := (&APIKeyMethod{Header: "X Key"}).Validate(); err == nil || !strings.Contains(err.Error(), "not a valid header name") {
		t.Errorf("api_key header: %v", err)
	}
	neg := caddy.Duration(-time.Second)
	if err := (&KeyRotate{MinAge: &neg}).Validate(); err == nil || !strings.Contains(err.Error(), "min_age must not be negative") {
		t.Errorf("api_key_rotate min_age: %v", err)
	}
}

func FuzzCaddyfileAuth(f *testing.F) {
	gatewaytest.FuzzDirective(f, []string{
		"api_auth", "api_auth {\n api_key {\n header X\n query q\n }\n}", "api_auth {\n api_key\n api_key\n}",
		"api_auth {\n api_key {\n header\n }\n}", "api_auth {\n jwt\n}", "api_auth {{{", "api_auth }",
	}, func(d *caddyfile.Dispenser) error { return new(Auth).UnmarshalCaddyfile(d) })
}

func FuzzCaddyfileKeyRotate(f *testing.F) {
	gatewaytest.FuzzDirective(f, []string{"api_key_rotate", "api_key_rotate {\n min_age 1m\n}", "api_key_rotate x", "api_key_rotate {\n min_age\n}"},
		func(d *caddyfile.Dispenser) error { return new(KeyRotate).UnmarshalCaddyfile(d) })
}

// FuzzLockoutCaddyfile: whatever the arguments of lockout, parsing never
// panics, and what parses holds the rate and duration it was given (their
// bounds are Validate's).
func FuzzLockoutCaddyfile(f *testing.F) {
	for _, s := range []string{"10/1m 15m", "1/1s 1s", "0/1m 1m", "10/1m", "10/1m -5s", "3/d 1d", "5/1m 15m extra"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		if strings.ContainsAny(args, "{}\n\r\"`\\") {
			return
		}
		// NewTestDispenser swallows tokenizer errors (a heredoc marker, say):
		// tokenize first and skip what the Caddyfile lexer itself refuses.
		tokens, err := caddyfile.Tokenize([]byte("api_auth {\n\tlockout "+args+"\n}"), "Caddyfile")
		if err != nil {
			return
		}
		a := new(Auth)
		if err := a.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		lc := a.Lockout
		if lc == nil {
			t.Fatalf("%q parsed without a lockout", args)
		}
		if lc.Failures < 1 || lc.Window <= 0 || lc.Duration < 0 {
			t.Fatalf("%q parsed into %+v", args, lc)
		}
		_ = lc.Validate()
	})
}
