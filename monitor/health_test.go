package monitor

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"
)

// forward hands the health event name of host to f, as Caddy's events app
// would.
func forward(t *testing.T, f healthForwarder, name, host string) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	e, err := caddy.NewEvent(ctx, name, map[string]any{"host": host})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
}

func names(evs []gatewaytest.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name+" "+e.Data["host"].(string))
	}
	return out
}

func TestHealthForwardedPerInstanceWithoutRedis(t *testing.T) {
	a, b := &gatewaytest.App{}, &gatewaytest.App{}
	for _, app := range []*gatewaytest.App{a, b} {
		f := healthForwarder{app, zap.NewNop()}
		forward(t, f, "unhealthy", "10.0.0.1:80")
		forward(t, f, "healthy", "10.0.0.1:80")
		forward(t, f, "http.handlers.other", "10.0.0.1:80")
	}
	for _, app := range []*gatewaytest.App{a, b} {
		if got := names(app.Events()); len(got) != 2 || got[0] != "upstream.unhealthy 10.0.0.1:80" || got[1] != "upstream.healthy 10.0.0.1:80" {
			t.Fatalf("events %v", got)
		}
	}
}

// Two instances on one Redis see each change of a host's health; the first to
// report it forwards it, the other stays silent. Another host is its own.
func TestHealthForwardedOncePerCluster(t *testing.T) {
	rdb, _ := gatewaytest.StartRedis(t)
	a, b := &gatewaytest.App{Redis: rdb}, &gatewaytest.App{Redis: rdb}
	fa, fb := healthForwarder{a, zap.NewNop()}, healthForwarder{b, zap.NewNop()}
	forward(t, fa, "unhealthy", "10.0.0.1:80")
	forward(t, fb, "unhealthy", "10.0.0.1:80")
	forward(t, fb, "unhealthy", "10.0.0.2:80")
	forward(t, fb, "healthy", "10.0.0.1:80")
	forward(t, fa, "healthy", "10.0.0.1:80")
	if got := names(a.Events()); len(got) != 1 || got[0] != "upstream.unhealthy 10.0.0.1:80" {
		t.Fatalf("instance a forwarded %v", got)
	}
	if got := names(b.Events()); len(got) != 2 || got[0] != "upstream.unhealthy 10.0.0.2:80" || got[1] != "upstream.healthy 10.0.0.1:80" {
		t.Fatalf("instance b forwarded %v", got)
	}
}

// Without Redis answering, each instance forwards what it sees.
func TestHealthForwardedWhenRedisIsDown(t *testing.T) {
	rdb, kill := gatewaytest.StartRedis(t)
	kill()
	a := &gatewaytest.App{Redis: rdb}
	forward(t, healthForwarder{a, zap.NewNop()}, "unhealthy", "10.0.0.1:80")
	if got := names(a.Events()); len(got) != 1 {
		t.Fatalf("forwarded %v", got)
	}
}
