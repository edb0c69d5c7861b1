package caddytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/authn"
)

const upstreamTokenSite = `{
	{ADMIN_OPTIONS}
	api_gateway {
		signing {
			algorithm {ALG}
			rotate_every 4s
		}
	}
}

http://127.0.0.1:{PORT} {
	handle /.well-known/jwks.json {
		route {
			api_jwks
		}
	}
	handle {
		api_auth {
			api_key
			upstream_token {
				header X-Apigate-Token
				ttl 60s
				audience orders
			}
		}
		reverse_proxy {UPSTREAM}
	}
}
`

func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	}
	json.Unmarshal(h, &hdr) //nolint:errcheck
	return hdr.Kid
}

// gatewayVerifier fetches the gateway's JWKS, as an upstream would.
func gatewayVerifier(t *testing.T, g *Gateway) *authn.JWT {
	t.Helper()
	status, h, body := g.Do("GET", "/.well-known/jwks.json", nil, "")
	if status != 200 || h.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %q %s", status, h.Get("Content-Type"), body)
	}
	keys, err := authn.ParseJWKS([]byte(body))
	if err != nil || len(keys) == 0 {
		t.Fatalf("jwks %s: %v", body, err)
	}
	v := &authn.JWT{Keys: authn.StaticKeys{Set: authn.NewKeySet(keys)}, Algorithms: []string{"EdDSA", "ES256"}, Issuer: "caddy-apigate", Audiences: []string{"orders"}, ScopesClaims: []string{"scope"}}
	if err := v.Init(); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpstreamTokenAcrossRotation(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			up := StartUpstream(t, nil)
			site := strings.ReplaceAll(upstreamTokenSite, "{ALG}", alg)
			g := StartGateway(t, site, GatewayOptions{}, "{UPSTREAM}", up.Addr)
			k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
			get := func() string {
				t.Helper()
				// A token the client sends in the header is replaced.
				status, _, body := g.Do("GET", "/orders", map[string]string{"X-API-Key": k.Key, "X-Apigate-Token": "forged"}, "")
				if status != 200 {
					t.Fatalf("%d %s", status, body)
				}
				tok := received(t, body).Header.Get("X-Apigate-Token")
				if tok == "" || tok == "forged" {
					t.Fatalf("upstream token %q", tok)
				}
				return tok
			}
			first := get()
			v := gatewayVerifier(t, g)
			id, err := v.Verify(context.Background(), first, time.Now())
			if err != nil || id.Consumer != "shop" || id.ScopeString != "orders:read" {
				t.Fatalf("first token: %+v %v", id, err)
			}
			if status, _, _ := g.Do("GET", "/orders", nil, ""); status != 401 {
				t.Fatal("no key, yet not 401")
			}

			// Wait for the signing key to rotate, fetching the JWKS before each
			// request as a polling upstream would: the JWKS fetched before the
			// new key's first use already has it (published ahead).
			var second string
			var before *authn.JWT
			Eventually(t, 20*time.Second, "the signing key rotates", func() bool {
				before = gatewayVerifier(t, g)
				second = get()
				return tokenKid(t, second) != tokenKid(t, first)
			})
			if _, err := before.Verify(context.Background(), second, time.Now()); err != nil {
				t.Fatalf("the new key's first token against the JWKS fetched just before: %v", err)
			}
			// ... and the JWKS after the rotation still has the old one.
			v2 := gatewayVerifier(t, g)
			for i, tok := range []string{first, second} {
				if _, err := v2.Verify(context.Background(), tok, time.Now()); err != nil {
					t.Fatalf("token %d against the JWKS after the rotation: %v", i, err)
				}
			}

			// A restart keeps the keys: the old tokens still verify against the new JWKS.
			g.Restart()
			v3 := gatewayVerifier(t, g)
			for i, tok := range []string{first, second, get()} {
				if _, err := v3.Verify(context.Background(), tok, time.Now()); err != nil {
					t.Fatalf("token %d after the restart: %v", i, err)
				}
			}
			if status, _, _ := g.Do("POST", "/.well-known/jwks.json", nil, "x"); status != 405 {
				t.Fatalf("POST to api_jwks: %d", status)
			}
		})
	}
}
