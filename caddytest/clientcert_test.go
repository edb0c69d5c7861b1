package caddytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test; nothing is committed.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

func TestClientCertEndToEnd(t *testing.T) {
	ca := newTestCA(t, "apigate test CA")
	other := newTestCA(t, "someone else's CA")
	_, srvCert, srvKey := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	clientPair, _, _ := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot", Organization: []string{"Example"}}, DNSNames: []string{"ci-bot.internal"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	strangerPair, _, _ := other.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.pem": ca.pem, "server.pem": srvCert, "server.key": srvKey} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site := `{
	{ADMIN_OPTIONS}
}

https://localhost:{PORT} {
	bind 127.0.0.1
	tls {CERTS}/server.pem {CERTS}/server.key {
		client_auth {
			mode verify_if_given
			trust_pool file {CERTS}/ca.pem
		}
	}
	api_auth {
		client_cert {
			consumer subject.common_name
			scopes orders:read
		}
		api_key
	}
	api_authorize orders:read
	reverse_proxy {UPSTREAM} {
		header_up X-Consumer {http.auth.user.id}
		header_up X-Method {http.auth.user.method}
		header_up X-Key-Id {http.auth.user.key_id}
	}
}
`
	up := StartUpstream(t, nil)
	g := StartGateway(t, site, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{CERTS}", dir)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	status, body, err := getTLS(t, g, roots, clientPair)
	if err != nil || status != 200 {
		t.Fatalf("verified certificate: %d %v %s", status, err, body)
	}
	r := received(t, body)
	if r.Header.Get("X-Consumer") != "ci-bot" || r.Header.Get("X-Method") != "client_cert" || len(r.Header.Get("X-Key-Id")) != len("sha256:")+64 {
		t.Fatalf("upstream saw %v", r.Header)
	}
	if status, _, err := getTLS(t, g, roots); err != nil || status != 401 {
		t.Fatalf("no certificate: %d %v", status, err)
	}
	// The certificate decides (client_cert is written first); the key the
	// caller also sent is one api_key reads, so it never reaches the upstream.
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	status, body, err = getTLSWith(t, g, roots, http.Header{"X-Api-Key": {k.Key}}, clientPair)
	if err != nil || status != 200 {
		t.Fatalf("certificate and key: %d %v %s", status, err, body)
	}
	if r := received(t, body); r.Header.Get("X-Method") != "client_cert" || r.Header.Get("X-Api-Key") != "" {
		t.Fatalf("upstream saw %v", r.Header)
	}
	if status, body, err := getTLS(t, g, roots, strangerPair); err == nil {
		t.Fatalf("a certificate from an untrusted CA was accepted: %d %s", status, body)
	}
}

func getTLS(t *testing.T, g *Gateway, roots *x509.CertPool, certs ...tls.Certificate) (int, string, error) {
	t.Helper()
	return getTLSWith(t, g, roots, nil, certs...)
}

// getTLSWith is getTLS sending the request headers h.
func getTLSWith(t *testing.T, g *Gateway, roots *x509.CertPool, h http.Header, certs ...tls.Certificate) (int, string, error) {
	t.Helper()
	// Dial 127.0.0.1 whatever localhost resolves to; SNI and Host say localhost.
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost",
			// Send the certificate even when the server names other CAs.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &certs[0], nil
			}},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", g.Port))
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest("GET", fmt.Sprintf("https://localhost:%d/orders", g.Port), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		req.Header = h
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
