package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ClientCert authenticates callers by the TLS client certificate the server
// verified (Caddy's `tls { client_auth ... }`). A certificate the server did
// not verify against its trusted authorities is refused, never trusted.
//
// Set the fields, then use it concurrently.
type ClientCert struct {
	// Consumer says which name of the certificate is the consumer: one of
	// ConsumerFields. Empty means subject.common_name.
	Consumer string
	// Scopes are granted to every caller with a verified certificate.
	Scopes []string

	scopeString string
}

// ConsumerFields are the certificate names a consumer may be taken from. A
// SAN field takes the first name of that type.
var ConsumerFields = []string{"subject.common_name", "subject", "san.dns", "san.email", "san.uri"}

// ErrCertNotVerified is a client certificate the server did not verify.
var ErrCertNotVerified = &Rejection{Status: 401, Code: "invalid_token", Reason: "client certificate not verified", Label: "cert_not_verified"}

// Init fills the default consumer and prepares the method; check the
// consumer field with CheckConsumerField first.
func (c *ClientCert) Init() {
	if c.Consumer == "" {
		c.Consumer = "subject.common_name"
	}
	c.scopeString = strings.Join(c.Scopes, " ")
}

// CheckConsumerField returns why field is not one of ConsumerFields, or nil.
func CheckConsumerField(field string) error {
	if !slices.Contains(ConsumerFields, field) {
		return fmt.Errorf("client_cert: consumer %q is not one of %s", field, strings.Join(ConsumerFields, ", "))
	}
	return nil
}

// Carriers returns none: the certificate belongs to the TLS connection, not
// to the request, so no request header or parameter carries it and there is
// nothing to remove before the upstream.
func (c *ClientCert) Carriers() Carriers { return Carriers{} }

// Authenticate returns the identity of the request's verified client
// certificate; ErrNoCredential when the connection presented none.
func (c *ClientCert) Authenticate(r *http.Request, _ netip.Addr, now time.Time) (*Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredential
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, ErrCertNotVerified
	}
	leaf := r.TLS.VerifiedChains[0][0]
	// A connection may outlive its certificate: check validity per request.
	if now.Before(leaf.NotBefore) {
		return nil, ErrNotYetValid
	}
	if now.After(leaf.NotAfter) {
		return nil, ErrExpired
	}
	consumer := CertConsumer(leaf, c.Consumer)
	if consumer == "" || len(consumer) > MaxClaimLen {
		return nil, ErrClaims
	}
	sum := sha256.Sum256(leaf.Raw)
	return &Identity{
		Consumer:    consumer,
		Scopes:      c.Scopes,
		ScopeString: c.scopeString,
		KeyID:       "sha256:" + hex.EncodeToString(sum[:]),
		Method:      "client_cert",
	}, nil
}

// CertConsumer returns the name field of cert, or "".
func CertConsumer(cert *x509.Certificate, field string) string {
	switch field {
	case "subject.common_name", "":
		return cert.Subject.CommonName
	case "subject":
		return cert.Subject.String()
	case "san.dns":
		if len(cert.DNSNames) > 0 {
			return cert.DNSNames[0]
		}
	case "san.email":
		if len(cert.EmailAddresses) > 0 {
			return cert.EmailAddresses[0]
		}
	case "san.uri":
		if len(cert.URIs) > 0 {
			return cert.URIs[0].String()
		}
	}
	return ""
}
