package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Grant types and token types of RFC 8693 and RFC 6749.
const (
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantClientCredentials = "client_credentials"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// maxTokenResponse bounds what the gateway reads of a token endpoint's answer.
const maxTokenResponse = 64 << 10

// token is what a token endpoint issued: the access token and how long it
// lives (0 when the endpoint did not say).
type token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// providerError is a token request that did not give a token. It never holds
// a token, a secret or the provider's free-text description: only the HTTP
// status and the OAuth error code, which may be logged.
type providerError struct {
	// Status is the endpoint's HTTP status, 0 when it could not be reached.
	Status int
	// Code is the OAuth error code (RFC 6749 5.2), sanitized, or a word of
	// ours: unreachable, bad_response.
	Code string
	// Refused is set when the endpoint refused the subject or the request
	// (a 400 with invalid_grant, invalid_request, invalid_target, ...): the
	// caller gets 401. Otherwise the provider failed: 502.
	Refused bool
}

func (e *providerError) Error() string {
	return fmt.Sprintf("token endpoint: status %d, error %s", e.Status, e.Code)
}

// refusals are the error codes by which a token endpoint refuses what it was
// asked, rather than failing or refusing the gateway itself (invalid_client
// is the gateway's configuration: a 502).
var refusals = map[string]bool{
	"invalid_grant": true, "invalid_request": true, "invalid_target": true,
	"invalid_scope": true, "unauthorized_client": true, "access_denied": true,
}

// classify makes the providerError of a non-200 answer with the error code
// code (already sanitized).
func classify(status int, code string) *providerError {
	if code == "" {
		code = "none"
	}
	refused := (status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden) && refusals[code]
	return &providerError{Status: status, Code: code, Refused: refused}
}

// endpoint posts token requests (RFC 6749 section 3.2) to one token
// endpoint, authenticating the gateway as a client. It is safe for concurrent
// use.
type endpoint struct {
	url    string
	client *http.Client
	auth   clientAuth
}

// clientAuth adds the gateway's client authentication to a token request.
type clientAuth interface {
	apply(req *http.Request, form url.Values, now time.Time) error
}

// secretBasic is client_secret_basic: HTTP Basic with the form-encoded id and
// secret (RFC 6749 section 2.3.1).
type secretBasic struct{ id, secret string }

func (a secretBasic) apply(req *http.Request, _ url.Values, _ time.Time) error {
	req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	return nil
}

// secretPost is client_secret_post: the id and secret in the form body.
type secretPost struct{ id, secret string }

func (a secretPost) apply(_ *http.Request, form url.Values, _ time.Time) error {
	form.Set("client_id", a.id)
	form.Set("client_secret", a.secret)
	return nil
}

// post sends form to the endpoint and returns the token of a 200 answer.
func (e *endpoint) post(ctx context.Context, form url.Values, now time.Time) (token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, nil)
	if err != nil {
		return token{}, &providerError{Code: "bad_request"}
	}
	if err := e.auth.apply(req, form, now); err != nil {
		return token{}, &providerError{Code: "client_assertion"}
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return token{}, &providerError{Code: "unreachable"}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil || len(data) > maxTokenResponse {
		return token{}, &providerError{Status: resp.StatusCode, Code: "bad_response"}
	}
	return parseTokenResponse(resp.StatusCode, resp.Header.Get("Content-Type"), data)
}

// tokenResponse is the JSON of a token endpoint's answer (RFC 6749 5.1, 5.2).
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Error       string          `json:"error"`
}

// parseTokenResponse reads a token endpoint's answer of status with
// content type ctype. It is given untrusted bytes (FuzzParseTokenResponse).
func parseTokenResponse(status int, ctype string, data []byte) (token, error) {
	var tr tokenResponse
	mt, _, _ := mime.ParseMediaType(ctype)
	jsonBody := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if jsonBody {
		if err := json.Unmarshal(data, &tr); err != nil {
			jsonBody = false
		}
	}
	if status != http.StatusOK {
		return token{}, classify(status, errorCode(tr.Error))
	}
	if !jsonBody || tr.AccessToken == "" || len(tr.AccessToken) > maxTokenResponse || !headerSafe(tr.AccessToken) {
		return token{}, &providerError{Status: status, Code: "bad_response"}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") && !strings.EqualFold(tr.TokenType, "N_A") {
		// RFC 8693 2.2.1: N_A for a token that is not an access token; any
		// other type (DPoP, MAC) needs more than a header.
		return token{}, &providerError{Status: status, Code: "unsupported_token_type"}
	}
	exp, ok := expiresIn(tr.ExpiresIn)
	if !ok {
		return token{}, &providerError{Status: status, Code: "bad_response"}
	}
	return token{AccessToken: tr.AccessToken, ExpiresIn: exp}, nil
}

// expiresIn reads expires_in: a number of seconds (some providers send it as
// a string); absent is 0.
func expiresIn(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true
	}
	s := strings.Trim(string(raw), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// errorCode keeps an OAuth error code only if it is one: at most 64
// characters of the RFC 6749 error grammar without spaces, so a log line can
// hold it and nothing the provider echoed back.
func errorCode(s string) string {
	if len(s) > 64 {
		return "unrecognized"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return "unrecognized"
		}
	}
	return s
}

// headerSafe reports whether an access token can go into a header value as
// it is: visible ASCII (RFC 6750's b64token is a subset).
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// asProviderError returns err as a *providerError; any other error is a
// provider failure.
func asProviderError(err error) *providerError {
	var pe *providerError
	if errors.As(err, &pe) {
		return pe
	}
	return &providerError{Code: "unreachable"}
}
