package authn

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// ClientCertMethod authenticates callers by the TLS client certificate Caddy
// verified (method "client_cert"). Configure the site's `tls { client_auth {
// mode require_and_verify ... } }` with the authorities to trust; a
// certificate that was presented but not verified is refused.
//
// The identity's key id ({http.auth.user.key_id}) is the certificate's
// SHA-256 fingerprint, "sha256:<hex>".
type ClientCertMethod struct {
	// Consumer is the certificate name that becomes {http.auth.user.id}:
	// subject.common_name, subject (the whole distinguished name), san.dns,
	// san.email or san.uri (the first SAN of that type). Default:
	// subject.common_name.
	Consumer string `json:"consumer,omitempty"`

	// Scopes are granted to every caller with a verified certificate.
	// Default: none.
	Scopes []string `json:"scopes,omitempty"`

	cc *ClientCert
}

// CaddyModule returns the Caddy module information.
func (ClientCertMethod) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigate.auth_methods.client_cert",
		New: func() caddy.Module { return new(ClientCertMethod) },
	}
}

// Provision fills the default and prepares the method.
func (m *ClientCertMethod) Provision(caddy.Context) error {
	if m.Consumer == "" {
		m.Consumer = "subject.common_name"
	}
	m.cc = &ClientCert{Consumer: m.Consumer, Scopes: m.Scopes}
	m.cc.Init()
	return nil
}

// Validate checks the configuration.
func (m *ClientCertMethod) Validate() error {
	if err := CheckConsumerField(m.Consumer); err != nil {
		return err
	}
	for _, s := range m.Scopes {
		if why := gateway.CheckScope(s); why != "" {
			return errors.New("client_cert: " + why)
		}
	}
	return nil
}

// Authenticate returns the identity of the verified client certificate.
func (m *ClientCertMethod) Authenticate(r *http.Request, clientIP netip.Addr, now time.Time) (*Identity, error) {
	return m.cc.Authenticate(r, clientIP, now)
}

// Carriers returns none: the certificate is the connection's, not the
// request's.
func (m *ClientCertMethod) Carriers() Carriers { return m.cc.Carriers() }

// Interface guards
var (
	_ caddy.Provisioner = (*ClientCertMethod)(nil)
	_ caddy.Validator   = (*ClientCertMethod)(nil)
	_ AuthMethod        = (*ClientCertMethod)(nil)
)
