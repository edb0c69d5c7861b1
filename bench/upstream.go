package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// upstreamBody is the upstream's answer: a small JSON document, as an API would send.
const upstreamBody = `{"id":"ord_1042","status":"shipped","total":{"amount":4250,"currency":"EUR"},"items":3}` + "\n"

// upstream is the HTTP server every variant proxies to, run in the benchmark process.
type upstream struct {
	addr string // "127.0.0.1:port"
	srv  *http.Server
	done chan struct{}
}

// startUpstream serves upstreamBody with keep-alive on a free port of 127.0.0.1.
func startUpstream() (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := []byte(upstreamBody)
	length := strconv.Itoa(len(body))
	u := &upstream{
		addr: l.Addr().String(),
		done: make(chan struct{}),
		srv: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				h := w.Header()
				h["Content-Type"] = []string{"application/json"}
				h["Content-Length"] = []string{length}
				w.Write(body)
			}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
	}
	go func() {
		defer close(u.done)
		if err := u.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("upstream: %v", err)
		}
	}()
	return u, nil
}

// Close stops the upstream, waiting at most a few seconds for requests in flight.
func (u *upstream) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := u.srv.Shutdown(ctx); err != nil {
		u.srv.Close()
	}
	<-u.done
}
