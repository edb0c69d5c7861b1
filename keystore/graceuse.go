package keystore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventUsedInGrace is the event of a rotated key used during its grace
// period.
const EventUsedInGrace = "key.used_in_grace"

// graceEventEvery is how often key.used_in_grace may go out per key.
const graceEventEvery = time.Hour

// graceSent holds, per key id, when this process last sent key.used_in_grace.
// It is process-wide so that a config reload does not reset it.
var graceSent sync.Map

// NoteGraceUse emits key.used_in_grace through emit for a rotated key used
// during its grace period, at most once an hour per key: per process from
// memory, and per cluster through client (nil: none). It never blocks the
// request: the cluster check and emit run in a goroutine of their own.
func NoteGraceUse(client redis.UniversalClient, keyID, consumer string, now time.Time, emit func(name string, data map[string]any)) {
	if !graceDue(keyID, now) {
		return
	}
	go func() {
		if client != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			first, err := client.SetNX(ctx, "apigate:grace_used:"+keyID, now.Unix(), graceEventEvery).Result()
			if err == nil && !first {
				return // another gateway sent it this hour
			}
		}
		emit(EventUsedInGrace, map[string]any{"id": keyID, "consumer": consumer, "at": now.UTC().Format(time.RFC3339)})
	}()
}

// graceDue reports whether this process may send key.used_in_grace for keyID
// at now, and if so notes it as sent: not when it sent one in the last hour,
// or another request is sending it now.
func graceDue(keyID string, now time.Time) bool {
	last, loaded := graceSent.LoadOrStore(keyID, now)
	if !loaded {
		return true
	}
	return now.Sub(last.(time.Time)) >= graceEventEvery && graceSent.CompareAndSwap(keyID, last, now)
}
