package keystore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// KeysChannel is the Redis pub/sub channel that carries the ids of changed
// keys.
const KeysChannel = "apigate:keys"

// DefaultRefresh is how often a Propagator picks up changes from the storage.
const DefaultRefresh = 10 * time.Second

// fullResyncEvery is how many refreshes pass between full reloads of every
// record, which heal anything the change log missed.
const fullResyncEvery = 30

// Propagator keeps a Store in step with the other gateways that share its
// backend. Every Refresh it reloads the records they changed (the change
// log) and sends the scheduled events that are due (Store.Notify); every
// fullResyncEvery refreshes it reloads every record instead and writes a
// snapshot for the next start, unless a gateway wrote a recent one. With
// Redis, each change is also announced on KeysChannel (Publish, the store's
// change hook) and the others' announcements are reloaded at once, so changes
// arrive within a second.
//
// Set the fields, then Start; Stop ends the background work. Publish may be
// called concurrently.
type Propagator struct {
	Store *Store
	// Redis carries the announcements. Nil: the refresh alone propagates.
	Redis redis.UniversalClient
	// Logger receives what fails. Required.
	Logger *zap.Logger
	// Refresh is the time between two refreshes. Default: DefaultRefresh.
	Refresh time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start begins the background work. loadedAt is when this process's full
// load of the store began, whose snapshot is then written first; zero when
// the store came from a snapshot or a running config.
func (p *Propagator) Start(loadedAt time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go p.refreshLoop(ctx, loadedAt)
	if p.Redis != nil {
		p.wg.Add(1)
		go p.subscribe(ctx)
	}
}

// Stop ends the background work and waits for it. Without a Start, or after
// a Stop, it does nothing.
func (p *Propagator) Stop() {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
		p.cancel = nil
	}
}

func (p *Propagator) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Propagator) interval() time.Duration {
	if p.Refresh > 0 {
		return p.Refresh
	}
	return DefaultRefresh
}

func (p *Propagator) refreshLoop(ctx context.Context, loadedAt time.Time) {
	defer p.wg.Done()
	if !loadedAt.IsZero() {
		p.snapshot(ctx, loadedAt)
	}
	ticker := time.NewTicker(p.interval())
	defer ticker.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		p.refresh(ctx, n, p.now())
	}
}

// refresh is the nth refresh, at now.
func (p *Propagator) refresh(ctx context.Context, n int, now time.Time) {
	if n%fullResyncEvery == 0 {
		var skipped *SkippedError
		if err := p.Store.Load(ctx); err != nil && !errors.As(err, &skipped) {
			p.Logger.Warn("reloading api keys", zap.Error(err))
		} else {
			p.snapshot(ctx, now)
		}
	} else if changed, err := p.Store.Refresh(ctx, now); err != nil {
		p.Logger.Warn("refreshing api keys", zap.Error(err))
	} else if len(changed) > 0 {
		p.Logger.Debug("api keys changed elsewhere", zap.Strings("ids", changed))
	}
	if _, err := p.Store.Notify(ctx, now); err != nil && ctx.Err() == nil {
		p.Logger.Warn("sending scheduled key events", zap.Error(err))
	}
}

// snapshot writes a snapshot of the keys loaded from storage at loadedAt,
// unless another gateway wrote one in the last half of a full resync period.
func (p *Propagator) snapshot(ctx context.Context, loadedAt time.Time) {
	if p.Store.SnapshotAge(ctx, p.now()) < p.interval()*fullResyncEvery/2 {
		return
	}
	if err := p.Store.WriteSnapshot(ctx, loadedAt); err != nil && ctx.Err() == nil {
		p.Logger.Warn("writing the key snapshot", zap.Error(err))
	}
}

// Publish tells the other gateways through Redis that key id changed. It
// does not wait: a lost message is healed by their refresh. Without Redis it
// does nothing.
func (p *Propagator) Publish(id string) {
	if p.Redis == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Redis.Publish(ctx, KeysChannel, id).Err(); err != nil {
			if c := p.Logger.Check(zap.DebugLevel, "publishing a key change"); c != nil {
				c.Write(zap.Error(err))
			}
		}
	}()
}

// subscribe reloads the keys other gateways announce. go-redis re-subscribes
// by itself when Redis comes back.
func (p *Propagator) subscribe(ctx context.Context) {
	defer p.wg.Done()
	sub := p.Redis.Subscribe(ctx, KeysChannel)
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
			if !ValidID(id) {
				continue
			}
			if err := p.Store.Reload(ctx, id); err != nil && ctx.Err() == nil {
				p.Logger.Warn("reloading a changed api key", zap.String("key_id", id), zap.Error(err))
			}
		}
	}
}
