package apigate

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/limiter"
)

func TestLockoutCaddyfile(t *testing.T) {
	a := new(Auth)
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`api_auth {
		api_key
		lockout 10/1m 15m
	}`)); err != nil {
		t.Fatal(err)
	}
	if a.Lockout == nil || a.Lockout.Failures != 10 || a.Lockout.Window != caddy.Duration(time.Minute) || a.Lockout.Duration != caddy.Duration(15*time.Minute) {
		t.Fatalf("lockout %+v", a.Lockout)
	}
	for in, want := range map[string]string{
		"api_auth {\n\tlockout 10/1m\n}":                      "want <failures>/<window> <duration>",
		"api_auth {\n\tlockout 10 15m\n}":                     "requests/window",
		"api_auth {\n\tlockout 10/1m -1s\n}":                  "duration",
		"api_auth {\n\tlockout 10/1m soon\n}":                 "duration",
		"api_auth {\n\tlockout 0/1m 15m\n}":                   "between 1",
		"api_auth {\n\tlockout 10/1m 15m 1\n}":                "want",
		"api_auth {\n\tlockout 1/1m 1m\n\tlockout 1/1m 1m\n}": "duplicate",
	} {
		err := new(Auth).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		}
	}
}

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
		if _, err := limiter.LockoutLimit(lc.Failures, time.Duration(lc.Window)); err != nil || lc.Duration <= 0 {
			t.Fatalf("%q parsed into an invalid lockout %+v: %v", args, lc, err)
		}
	})
}
