package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpGet fetches u from an identity provider: a 200 answer of at most
// MaxJWKSBytes, with its headers.
func httpGet(ctx context.Context, c *http.Client, u, accept string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) //nolint:errcheck
		return nil, nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > MaxJWKSBytes {
		return nil, nil, errors.New("response too large")
	}
	return body, resp.Header, nil
}

// Discover reads the issuer's OpenID Connect discovery document and returns
// its jwks_uri. The document must name the same issuer, and the URL must be
// one the gateway may fetch keys from (CheckFetchURL).
func Discover(ctx context.Context, c *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := httpGet(ctx, c, u, "application/json")
	if err != nil {
		return "", fmt.Errorf("openid discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("openid discovery: %w", err)
	}
	if doc.Issuer != issuer {
		return "", errors.New("openid discovery: the document names another issuer")
	}
	if err := CheckFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("openid discovery: jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

// CheckFetchURL accepts the URLs the gateway fetches keys or introspects
// tokens from: https, or http to a loopback address (a provider on the same
// machine). Key material over plain HTTP could be replaced on the way.
func CheckFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("must be https (http is accepted only for loopback addresses)")
	}
	return errors.New("must be https")
}

// NewHTTPClient returns a client for identity providers: the time-out bounds
// every request, and redirects are not followed (the configured URL is the
// only one called).
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			ForceAttemptHTTP2:     true,
		},
	}
}

// CacheTTL returns how long a response may be cached according to its
// Cache-Control (max-age; no-store and no-cache mean zero) or Expires header,
// or def when it has neither.
func CacheTTL(h http.Header, now time.Time, def time.Duration) time.Duration {
	if cc := h.Get("Cache-Control"); cc != "" {
		for dir := range strings.SplitSeq(cc, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					return def
				}
				if n > int64(365*24*time.Hour/time.Second) {
					n = int64(365 * 24 * time.Hour / time.Second)
				}
				return time.Duration(n) * time.Second
			}
		}
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return 0
		}
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return def
}
