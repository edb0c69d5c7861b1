package apigate

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/keystore"
	"github.com/apigate/caddy-apigate/monitor"
	"github.com/apigate/caddy-apigate/notify"
)

// NotifyConfig is the webhook receiver of key events.
type NotifyConfig struct {
	// URL receives the events by POST (http or https).
	URL string `json:"url"`

	// Secret signs the messages: a Standard Webhooks secret, `whsec_` followed
	// by 24 to 64 base64-encoded random bytes. Placeholders such as
	// {env.APIGATE_WEBHOOK_SECRET} are expanded at provision time. Required.
	Secret string `json:"secret"`

	// Timeout bounds one delivery attempt. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// webhookEvents are the events the webhook contract carries.
var webhookEvents = map[string]bool{
	keystore.EventCreated: true, keystore.EventRotated: true, keystore.EventRevoked: true,
	keystore.EventExpiring: true, keystore.EventExpired: true,
	"key.used_in_grace": true, "auth.lockout": true, "key.leaked": true,
	monitor.EventDegraded: true, monitor.EventRecovered: true,
	"upstream.healthy": true, "upstream.unhealthy": true,
}

// notifiers keeps one webhook notifier per storage and instance, so that a
// config reload never runs two delivery loops over one outbox.
var notifiers = caddy.NewUsagePool()

type pooledNotifier struct{ *notify.Notifier }

func (p pooledNotifier) Destruct() error { p.Stop(); return nil }

// lifecycle is the App's background work, kept apart from the app's config:
// key propagation (keystore.Propagator) and webhook delivery.
type lifecycle struct {
	propagator   *keystore.Propagator
	notifier     *notify.Notifier
	notifierName string
}

func (a *App) provisionLifecycle(storage certmagic.Storage) error {
	a.lifecycle = &lifecycle{propagator: &keystore.Propagator{
		Store: a.store, Redis: a.RedisClient(), Logger: a.logger, Refresh: time.Duration(a.Keys.Refresh),
	}}
	if a.Notify == nil {
		return nil
	}
	repl := caddy.NewReplacer()
	cfg, err := notify.NewConfig(repl.ReplaceAll(a.Notify.URL, ""), repl.ReplaceAll(a.Notify.Secret, ""), time.Duration(a.Notify.Timeout))
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	// Each instance has its own outbox folder, so instances sharing a storage
	// never deliver each other's messages; a restarted instance (same data
	// folder, same instance id) resumes its own.
	instance, err := caddy.InstanceID()
	if err != nil {
		return fmt.Errorf("notify: instance id: %w", err)
	}
	folder := "api_gateway/outbox/" + instance.String()
	a.notifierName = "notifier:" + storageName(storage) + ":" + folder
	logger := a.logger.Named("notify")
	val, loaded, err := notifiers.LoadOrNew(a.notifierName, func() (caddy.Destructor, error) {
		n := notify.New(storage, folder, cfg, logger)
		n.Start()
		return pooledNotifier{n}, nil
	})
	if err != nil {
		return err
	}
	a.notifier = val.(pooledNotifier).Notifier
	if loaded {
		a.notifier.Configure(cfg, logger)
	}
	return nil
}

func (a *App) enqueueWebhook(name string, at time.Time, data map[string]any) {
	if a.lifecycle == nil || a.notifier == nil || !webhookEvents[name] {
		return
	}
	if err := a.notifier.Enqueue(context.Background(), name, at, data); err != nil {
		a.logger.Error("queueing a webhook message", zap.String("event", name), zap.Error(err))
	}
}

// Start starts the background work: refresh, scheduled events, propagation.
func (a *App) Start() error {
	if a.reused {
		a.store.SetPolicy(a.policy())
	}
	a.store.SetHooks(a, func(e keystore.Event) { a.Emit(e.Type, e.Data) }, a.propagator.Publish)
	a.propagator.Start(a.loadedFromStorage)
	return nil
}

// Stop stops the background work.
func (a *App) Stop() error {
	if a.lifecycle == nil {
		return nil
	}
	a.propagator.Stop()
	a.store.ClearHooks(a) // provisionLifecycle comes after the store
	return nil
}

func (a *App) cleanupLifecycle() error {
	if err := a.Stop(); err != nil || a.lifecycle == nil || a.notifier == nil {
		return err
	}
	_, err := notifiers.Delete(a.notifierName)
	return err
}
