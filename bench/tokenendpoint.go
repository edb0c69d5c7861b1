package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// startTokenEndpoint serves a minimal RFC 8693 token endpoint in the bench
// process for the token_exchange_warm variant: every exchange (client
// bench/bench-secret by HTTP Basic) gets a token valid for an hour. With a
// warm cache the gateway calls it once per subject token, so its speed does
// not matter. It sets BENCH_TOKEN_URL for Caddy.
func startTokenEndpoint(_ context.Context, _ string) ([]string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !ok || id != "bench" || secret != "bench-secret":
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
		case r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || r.PostFormValue("subject_token") == "":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_request"}`))
		default:
			w.Write([]byte(`{"access_token":"bench-exchanged-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}`))
		}
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("token endpoint: %v", err)
		}
	}()
	stop := func() { srv.Close(); <-done }
	return []string{"BENCH_TOKEN_URL=http://" + l.Addr().String() + "/token"}, stop, nil
}
