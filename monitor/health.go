package monitor

import (
	"context"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The events reverse_proxy's active health checks emit, and the names they
// are forwarded under.
var healthEvents = map[string]string{
	"healthy":   "upstream.healthy",
	"unhealthy": "upstream.unhealthy",
}

// ForwardHealth subscribes, on the events app of the config being
// provisioned, to reverse_proxy's healthy and unhealthy events and emits each
// again through app as upstream.healthy or upstream.unhealthy (data: host), so
// notify delivers them beside upstream.degraded. Call it while provisioning:
// Caddy closes subscriptions when the events app starts.
func ForwardHealth(events *caddyevents.App, app gateway.App) error {
	for name := range healthEvents {
		if err := events.On(name, healthForwarder{app}); err != nil {
			return err
		}
	}
	return nil
}

type healthForwarder struct{ app gateway.App }

// Handle emits the forwarded event.
func (f healthForwarder) Handle(_ context.Context, e caddy.Event) error {
	if name, ok := healthEvents[e.Name()]; ok {
		f.app.Emit(name, map[string]any{"host": e.Data["host"]})
	}
	return nil
}

var _ caddyevents.Handler = healthForwarder{}
