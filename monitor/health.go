package monitor

import (
	"context"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

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
// notify delivers them beside upstream.degraded. With the app's Redis, a
// change goes out once per cluster: every instance checks the host and sees
// it change, and only the one whose SET ... GET moves the host's stored state
// emits, as upstream.degraded is announced. Call it while provisioning:
// Caddy closes subscriptions when the events app starts.
func ForwardHealth(events *caddyevents.App, app gateway.App, logger *zap.Logger) error {
	for name := range healthEvents {
		if err := events.On(name, healthForwarder{app, logger}); err != nil {
			return err
		}
	}
	return nil
}

type healthForwarder struct {
	app    gateway.App
	logger *zap.Logger
}

// Handle emits the forwarded event, unless another instance of the cluster
// has already announced the host's new state.
func (f healthForwarder) Handle(ctx context.Context, e caddy.Event) error {
	name, ok := healthEvents[e.Name()]
	if !ok {
		return nil
	}
	host, _ := e.Data["host"].(string)
	if rdb := f.app.RedisClient(); rdb != nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		first, err := firstToSay(ctx, rdb, "apigate:upstream:"+host+":health", e.Name())
		if err != nil {
			f.logger.Warn("api_gateway: Redis unavailable, forwarding the health event from this instance",
				zap.String("host", host), zap.String("event", name), zap.Error(err))
		}
		if !first {
			return nil
		}
	}
	f.app.Emit(name, map[string]any{"host": host})
	return nil
}

var _ caddyevents.Handler = healthForwarder{}
