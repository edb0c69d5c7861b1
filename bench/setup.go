package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// What the variants set up before they run: the credentials their requests
// carry, the bodies they send.

// jwtSetup signs one token, an Auth0-shaped access token, that every request
// repeats: the gateway verifies it once and then finds it in its cache.
func jwtSetup(_ context.Context, _ setupEnv) (http.Header, error) {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://idp.bench.example/", "aud": "orders-api", "sub": "auth0|bench",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
		"scope": "orders:read", "permissions": []string{"orders:read"},
	}).SignedString([]byte(benchJWTSecret))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	return h, nil
}

// benchJSON1K is a 1 KiB JSON order, as an API client would POST it: nested
// objects and arrays, names with apostrophes, prose with punctuation.
var benchJSON1K = func() []byte {
	doc := `{"order":{"id":"ord_1042","customer":{"name":"Mary O'Connor","email":"mary@example.com","address":{"street":"12 Baker Street","city":"London","zip":"NW1 6XE"}},"items":[{"sku":"A-100","name":"Blue mug","qty":2,"price":12.5},{"sku":"B-220","name":"Tea (earl grey)","qty":1,"price":8.25},{"sku":"C-310","name":"Spoon set","qty":1,"price":15}],"notes":"Please leave it at the door; ring twice if nobody answers.","gift":false,"coupon":null,"tags":["priority","gift-wrap","eu"]},"meta":{"client":"web","version":"2.4.1","ts":"2026-01-02T03:04:05Z"},"history":[{"at":"2026-01-01T10:00:00Z","status":"created"},{"at":"2026-01-01T10:05:00Z","status":"paid"}],"comment":"Deliver between 9 and 5, not on weekends & holidays.","pad":"`
	const size = 1024
	return []byte(doc + strings.Repeat("x", size-len(doc)-2) + `"}`)
}()

// jsonSetup makes every request send Content-Type: application/json.
func jsonSetup(context.Context, setupEnv) (http.Header, error) {
	return http.Header{"Content-Type": {"application/json"}}, nil
}

// apiKeySetup returns a setup that creates an API key with the given scopes through
// the admin API and sends it in X-API-Key.
func apiKeySetup(scopes ...string) func(context.Context, setupEnv) (http.Header, error) {
	return func(ctx context.Context, s setupEnv) (http.Header, error) {
		reqBody, err := json.Marshal(map[string]any{"consumer": "bench", "scopes": scopes})
		if err != nil {
			return nil, err
		}
		var created struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		if err := adminPost(ctx, s, "/api_gateway/keys", reqBody, http.StatusCreated, &created); err != nil {
			return nil, fmt.Errorf("creating an API key: %w", err)
		}
		if created.Key == "" {
			return nil, fmt.Errorf("creating an API key: answer %q has no key", created.ID)
		}
		h := http.Header{}
		h.Set("X-API-Key", created.Key)
		return h, nil
	}
}

// adminPost sends body as JSON to Caddy's admin API and decodes the answer into out,
// which must come with status want.
func adminPost(ctx context.Context, s setupEnv, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.adminURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: status %d, want %d: %s", path, resp.StatusCode, want, snippet(answer))
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("POST %s: decoding the answer: %w", path, err)
	}
	return nil
}

// snippet shortens a response body for an error message.
func snippet(b []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(b))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}
