package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// exchanger makes the token requests of token_exchange: the exchange of a
// subject token and, for the fallback, a client_credentials grant with the
// same client.
type exchanger struct {
	ep        endpoint
	tokenType string // subject_token_type
	params    url.Values
	now       func() time.Time
}

// exchange trades subject for a token (RFC 8693 section 2.1).
func (x *exchanger) exchange(ctx context.Context, subject string) (token, error) {
	form := x.form(grantTokenExchange)
	form.Set("subject_token", subject)
	form.Set("subject_token_type", x.tokenType)
	form.Set("requested_token_type", tokenTypeAccessToken)
	return x.ep.post(ctx, form, x.now())
}

// own gets the gateway's own token with the exchange's client.
func (x *exchanger) own(ctx context.Context) (token, error) {
	return x.ep.post(ctx, x.form(grantClientCredentials), x.now())
}

func (x *exchanger) form(grant string) url.Values {
	form := make(url.Values, len(x.params)+6)
	for k, v := range x.params {
		form[k] = v
	}
	form.Set("grant_type", grant)
	return form
}

// requestParams are the audience, scope and resource parameters of a token
// request: audience and resource repeated, scope space-separated.
func requestParams(audience, scope, resource []string) url.Values {
	p := url.Values{}
	for _, a := range audience {
		p.Add("audience", a)
	}
	for _, r := range resource {
		p.Add("resource", r)
	}
	if len(scope) > 0 {
		p.Set("scope", strings.Join(scope, " "))
	}
	return p
}

// ownToken gets the gateway's token on golang.org/x/oauth2/clientcredentials.
type ownToken struct {
	cfg    clientcredentials.Config
	client *http.Client
}

func newOwnToken(cc *ClientCredentials, secret string, client *http.Client) *ownToken {
	style := oauth2.AuthStyleInHeader
	if cc.AuthMethod == authPost {
		style = oauth2.AuthStyleInParams
	}
	params := url.Values{}
	for _, a := range cc.Audience {
		params.Add("audience", a)
	}
	return &ownToken{client: client, cfg: clientcredentials.Config{
		ClientID:       cc.ClientID,
		ClientSecret:   secret,
		TokenURL:       cc.TokenURL,
		Scopes:         cc.Scope,
		EndpointParams: params,
		AuthStyle:      style,
	}}
}

func (o *ownToken) token(ctx context.Context) (token, error) {
	t, err := o.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, o.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			return token{}, classify(re.Response.StatusCode, errorCode(re.ErrorCode))
		}
		return token{}, &providerError{Code: "unreachable"}
	}
	if t.AccessToken == "" || !headerSafe(t.AccessToken) {
		return token{}, &providerError{Status: http.StatusOK, Code: "bad_response"}
	}
	if tt := t.Type(); tt != "Bearer" {
		return token{}, &providerError{Status: http.StatusOK, Code: "unsupported_token_type"}
	}
	var exp time.Duration
	if t.ExpiresIn > 0 {
		exp = time.Duration(t.ExpiresIn) * time.Second
	} else if !t.Expiry.IsZero() {
		exp = time.Until(t.Expiry)
	}
	return token{AccessToken: t.AccessToken, ExpiresIn: exp}, nil
}
