package apigate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
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

// DefaultRefresh is how often an instance picks up changes from the storage.
const DefaultRefresh = 10 * time.Second

// fullResyncEvery is how many refreshes pass between full reloads of every
// record, which heal anything the change log missed.
const fullResyncEvery = 30

// keysChannel is the Redis pub/sub channel that carries the ids of changed keys.
const keysChannel = "apigate:keys"

// graceEventEvery is how often key.used_in_grace may go out per key.
const graceEventEvery = time.Hour

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

func (p pooledNotifier) Destruct() error {
	p.Stop()
	return nil
}

// lifecycle is the App's background work, kept apart from the app's config.
type lifecycle struct {
	notifier     *notify.Notifier
	notifierName string
	refresh      time.Duration
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

func (a *App) provisionLifecycle(ctx caddy.Context, storage certmagic.Storage) error {
	a.lifecycle = new(lifecycle)
	a.refresh = DefaultRefresh
	if a.Keys.Refresh > 0 {
		a.refresh = time.Duration(a.Keys.Refresh)
	}
	if a.Notify == nil {
		return nil
	}
	cfg, err := a.Notify.config()
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
		a.notifier.Configure(cfg)
	}
	return nil
}

func (c *NotifyConfig) config() (notify.Config, error) {
	repl := caddy.NewReplacer()
	u, err := url.Parse(repl.ReplaceAll(c.URL, ""))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return notify.Config{}, errors.New("the URL must be an absolute http or https URL")
	}
	secret := repl.ReplaceAll(c.Secret, "")
	if secret == "" {
		return notify.Config{}, errors.New("a secret is required (whsec_...)")
	}
	key, err := notify.ParseSecret(secret)
	if err != nil {
		return notify.Config{}, err // never includes the secret
	}
	return notify.Config{URL: u.String(), Key: key, Timeout: time.Duration(c.Timeout)}, nil
}

func (a *App) enqueueWebhook(name string, at time.Time, data map[string]any) {
	if a.lifecycle == nil || a.notifier == nil || !webhookEvents[name] {
		return
	}
	if err := a.notifier.Enqueue(context.Background(), name, at, data); err != nil {
		a.logger.Error("queueing a webhook message", zap.String("event", name), zap.Error(err))
	}
}

func (a *App) startLifecycle() error {
	if a.reused {
		a.store.SetPolicy(a.policy())
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.store.SetHooks(a, func(e keystore.Event) {
		a.Emit(e.Type, e.Data)
	}, func(id string) {
		a.publishChange(id)
	})
	a.wg.Add(1)
	go a.refreshLoop(ctx)
	if a.redis != nil {
		a.wg.Add(1)
		go a.subscribeChanges(ctx)
	}
	return nil
}

func (a *App) stopLifecycle() error {
	if a.lifecycle == nil {
		return nil
	}
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
		a.cancel = nil
	}
	if a.store != nil {
		a.store.ClearHooks(a)
	}
	return nil
}

func (a *App) cleanupLifecycle() error {
	if a.lifecycle == nil {
		return nil
	}
	if err := a.stopLifecycle(); err != nil {
		return err
	}
	if a.notifierName != "" && a.notifier != nil {
		_, err := notifiers.Delete(a.notifierName)
		return err
	}
	return nil
}

// refreshLoop picks up other instances' changes, sends due scheduled events,
// and reloads every record now and then.
func (a *App) refreshLoop(ctx context.Context) {
	defer a.wg.Done()
	if !a.loadedFromStorage.IsZero() {
		a.maybeSnapshot(ctx, a.loadedFromStorage)
	}
	ticker := time.NewTicker(a.refresh)
	defer ticker.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now := time.Now()
		if n%fullResyncEvery == 0 {
			var skipped *keystore.SkippedError
			if err := a.store.Load(ctx); err != nil && !errors.As(err, &skipped) {
				a.logger.Warn("reloading api keys", zap.Error(err))
			} else {
				a.maybeSnapshot(ctx, now)
			}
		} else if changed, err := a.store.Refresh(ctx, now); err != nil {
			a.logger.Warn("refreshing api keys", zap.Error(err))
		} else if len(changed) > 0 {
			a.logger.Debug("api keys changed elsewhere", zap.Strings("ids", changed))
		}
		if _, err := a.store.Notify(ctx, now); err != nil && ctx.Err() == nil {
			a.logger.Warn("sending scheduled key events", zap.Error(err))
		}
	}
}

// maybeSnapshot writes a snapshot of the keys loaded from storage at loadedAt,
// unless another instance wrote a recent one.
func (a *App) maybeSnapshot(ctx context.Context, loadedAt time.Time) {
	if a.store.SnapshotAge(ctx, time.Now()) < a.refresh*fullResyncEvery/2 {
		return
	}
	if err := a.store.WriteSnapshot(ctx, loadedAt); err != nil && ctx.Err() == nil {
		a.logger.Warn("writing the key snapshot", zap.Error(err))
	}
}

// publishChange tells the other instances through Redis that key id changed.
// It does not wait: a lost message is healed by their refresh.
func (a *App) publishChange(id string) {
	if a.redis == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.redis.Publish(ctx, keysChannel, id).Err(); err != nil {
			if c := a.logger.Check(zap.DebugLevel, "publishing a key change"); c != nil {
				c.Write(zap.Error(err))
			}
		}
	}()
}

// subscribeChanges reloads the keys other instances announce. go-redis
// re-subscribes by itself when Redis comes back.
func (a *App) subscribeChanges(ctx context.Context) {
	defer a.wg.Done()
	sub := a.redis.Subscribe(ctx, keysChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			id := strings.TrimSpace(msg.Payload)
			if !keystore.ValidID(id) {
				continue
			}
			if err := a.store.Reload(ctx, id); err != nil && ctx.Err() == nil {
				a.logger.Warn("reloading a changed api key", zap.String("key_id", id), zap.Error(err))
			}
		}
	}
}

// graceSent holds, per key id, when this process last sent key.used_in_grace.
// It is process-wide so that a config reload does not reset it.
var graceSent sync.Map

// noteGraceUse emits key.used_in_grace for a rotated key used during its grace
// period, at most once an hour per key: per instance from memory, and per
// cluster through Redis when configured. It never blocks the request.
func (a *App) noteGraceUse(keyID, consumer string, now time.Time) {
	last, loaded := graceSent.LoadOrStore(keyID, now)
	if loaded {
		if now.Sub(last.(time.Time)) < graceEventEvery || !graceSent.CompareAndSwap(keyID, last, now) {
			return // sent this hour, or another request is sending it now
		}
	}
	go func() {
		if a.redis != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			first, err := a.redis.SetNX(ctx, "apigate:grace_used:"+keyID, now.Unix(), graceEventEvery).Result()
			if err == nil && !first {
				return // another instance sent it this hour
			}
		}
		a.Emit("key.used_in_grace", map[string]any{"id": keyID, "consumer": consumer, "at": now.UTC().Format(time.RFC3339)})
	}()
}
