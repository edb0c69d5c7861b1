package upstream

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/caddyserver/caddy/v2"
)

// Client authentication methods at the token endpoint.
const (
	authBasic      = "client_secret_basic"
	authPost       = "client_secret_post"
	authPrivateKey = "private_key_jwt"
)

// TokenExchange trades the caller's token for one meant for the upstream
// (OAuth 2.0 Token Exchange, RFC 8693).
type TokenExchange struct {
	// TokenURL is the token endpoint of the identity provider. Required.
	TokenURL string `json:"token_url"`
	// ClientID is the gateway's client id at the provider. Required.
	ClientID string `json:"client_id"`
	// ClientSecret is the gateway's client secret, for client_secret_basic
	// and client_secret_post; placeholders such as {env.X} and {file./path}
	// are expanded at provision time.
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthMethod is how the gateway authenticates to the token endpoint:
	// client_secret_basic (the default), client_secret_post or
	// private_key_jwt.
	AuthMethod string `json:"auth_method,omitempty"`
	// KeyFile is the PEM private key that signs the client assertion of
	// private_key_jwt (RSA: RS256, ECDSA: ES256/384/512, Ed25519: EdDSA).
	KeyFile string `json:"key_file,omitempty"`
	// KeyID is the kid of the client assertion's header. Default: none.
	KeyID string `json:"key_id,omitempty"`
	// AssertionAudience is the aud of private_key_jwt's client assertion.
	// Default: the token endpoint's URL (OpenID Connect Core 9); providers
	// that follow RFC 7523bis want their issuer identifier instead.
	AssertionAudience string `json:"assertion_audience,omitempty"`
	// Audience lists the requested audiences (the upstream's name at the
	// provider). Default: none.
	Audience []string `json:"audience,omitempty"`
	// Scope lists the requested scopes. Default: none.
	Scope []string `json:"scope,omitempty"`
	// Resource lists the requested resource URIs (RFC 8707). Default: none.
	Resource []string `json:"resource,omitempty"`
	// SubjectTokenType is the type the subject token is sent as:
	// access_token (the default) or jwt.
	SubjectTokenType string `json:"subject_token_type,omitempty"`
	// Fallback, when "client_credentials", gives callers without a subject
	// token (API keys, client certificates) the gateway's own token, from the
	// same endpoint with the same client, audience, scope and resource. By
	// default they are answered 401.
	Fallback string `json:"fallback,omitempty"`
}

// ClientCredentials gets the gateway's own token (RFC 6749 section 4.4).
type ClientCredentials struct {
	// TokenURL is the token endpoint. Required.
	TokenURL string `json:"token_url"`
	// ClientID is the gateway's client id. Required.
	ClientID string `json:"client_id"`
	// ClientSecret is the gateway's client secret; placeholders are expanded
	// at provision time.
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthMethod is client_secret_basic (the default) or client_secret_post.
	AuthMethod string `json:"auth_method,omitempty"`
	// Scope lists the requested scopes. Default: none.
	Scope []string `json:"scope,omitempty"`
	// Audience lists the requested audiences, sent as `audience` parameters
	// (as Auth0, Okta and others take them). Default: none.
	Audience []string `json:"audience,omitempty"`
}

func (te *TokenExchange) validate() error {
	if err := checkEndpoint("token_exchange", te.TokenURL, te.ClientID); err != nil {
		return err
	}
	switch te.AuthMethod {
	case "", authBasic, authPost:
		if te.KeyFile != "" || te.AssertionAudience != "" {
			return fmt.Errorf("api_upstream_auth: token_exchange: key_file and assertion_audience are for auth_method private_key_jwt")
		}
	case authPrivateKey:
		if te.KeyFile == "" {
			return fmt.Errorf("api_upstream_auth: token_exchange: auth_method private_key_jwt needs key_file")
		}
		if te.ClientSecret != "" {
			return fmt.Errorf("api_upstream_auth: token_exchange: private_key_jwt takes no client_secret")
		}
	default:
		return fmt.Errorf("api_upstream_auth: token_exchange: auth_method %q: want client_secret_basic, client_secret_post or private_key_jwt", te.AuthMethod)
	}
	if !slices.Contains([]string{"", "access_token", "jwt"}, te.SubjectTokenType) {
		return fmt.Errorf("api_upstream_auth: token_exchange: subject_token_type %q: want access_token or jwt", te.SubjectTokenType)
	}
	if te.Fallback != "" && te.Fallback != "client_credentials" {
		return fmt.Errorf("api_upstream_auth: token_exchange: fallback %q: the only fallback is client_credentials", te.Fallback)
	}
	return nil
}

func (cc *ClientCredentials) validate() error {
	if err := checkEndpoint("client_credentials", cc.TokenURL, cc.ClientID); err != nil {
		return err
	}
	if cc.AuthMethod != "" && cc.AuthMethod != authBasic && cc.AuthMethod != authPost {
		return fmt.Errorf("api_upstream_auth: client_credentials: auth_method %q: want client_secret_basic or client_secret_post", cc.AuthMethod)
	}
	return nil
}

// checkEndpoint checks a token endpoint's URL and client id.
func checkEndpoint(grant, raw, clientID string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("api_upstream_auth: %s: token endpoint %q is not an http(s) URL", grant, raw)
	}
	if clientID == "" {
		return fmt.Errorf("api_upstream_auth: %s: client_id is required", grant)
	}
	return nil
}

// expandSecret expands the placeholders of a secret ({env.X}, {file./path}).
func expandSecret(s string) string {
	if s == "" {
		return s
	}
	return caddy.NewReplacer().ReplaceKnown(s, "")
}
