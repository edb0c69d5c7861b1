package authn

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestClientCert(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ci-bot")
	leaf := &x509.Certificate{
		Raw:      []byte("der"),
		Subject:  pkix.Name{CommonName: "ci-bot", Organization: []string{"Example"}},
		DNSNames: []string{"ci-bot.internal", "other"}, EmailAddresses: []string{"ci@example.com"}, URIs: []*url.URL{u},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
	}
	req := func(verified bool) *reqBox {
		r := httptest.NewRequest("GET", "https://api/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		if verified {
			r.TLS.VerifiedChains = [][]*x509.Certificate{{leaf}}
		}
		return &reqBox{r}
	}
	for field, want := range map[string]string{"": "ci-bot", "subject.common_name": "ci-bot", "subject": "CN=ci-bot,O=Example", "san.dns": "ci-bot.internal", "san.email": "ci@example.com", "san.uri": "spiffe://example.org/ci-bot"} {
		c := &ClientCert{Consumer: field, Scopes: []string{"orders:read"}}
		c.Init()
		id, err := c.Authenticate(req(true).r, netipZero, t0)
		if err != nil || id.Consumer != want || id.ScopeString != "orders:read" || id.Method != "client_cert" {
			t.Errorf("%s: %+v %v", field, id, err)
		}
	}
	c := &ClientCert{}
	c.Init()
	if _, err := c.Authenticate(req(false).r, netipZero, t0); err != ErrCertNotVerified {
		t.Fatalf("unverified: %v", err)
	}
	if _, err := c.Authenticate(req(true).r, netipZero, t0.Add(2*time.Hour)); err != ErrExpired {
		t.Fatalf("expired: %v", err)
	}
	if _, err := c.Authenticate(httptest.NewRequest("GET", "/", nil), netipZero, t0); err != ErrNoCredential {
		t.Fatalf("plain http: %v", err)
	}
	if err := CheckConsumerField("issuer"); err == nil {
		t.Fatal("unknown consumer field accepted")
	}
}

type reqBox struct{ r *http.Request }
