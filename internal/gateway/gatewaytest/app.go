package gatewaytest

import (
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

// App is the api_gateway app as a handler sees it (gateway.App), for unit
// tests: an optional key store and Redis client, and the events it was given.
type App struct {
	Keys  *keystore.Store
	Redis redis.UniversalClient

	mu     sync.Mutex
	events []Event
	grace  int
}

// Event is one event the handler emitted.
type Event struct {
	Name string
	Data map[string]any
}

// Store returns Keys.
func (a *App) Store() *keystore.Store { return a.Keys }

// RedisClient returns Redis.
func (a *App) RedisClient() redis.UniversalClient { return a.Redis }

// RetainRedis returns Redis; the test owns the client.
func (a *App) RetainRedis() (redis.UniversalClient, func() error) {
	return a.Redis, func() error { return nil }
}

// Emit records the event.
func (a *App) Emit(name string, data map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, Event{name, data})
}

// NoteGraceUse counts the call.
func (a *App) NoteGraceUse(string, string, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.grace++
}

// Locker has no lockout state to give: tests of the lockout bring their own.
func (a *App) Locker(string) (gateway.Locker, error) {
	return nil, errors.New("gatewaytest.App has no lockout state")
}

// Events returns the events emitted so far, in order.
func (a *App) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Event(nil), a.events...)
}

// GraceUses returns how many times NoteGraceUse was called.
func (a *App) GraceUses() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.grace
}

var _ gateway.App = (*App)(nil)
