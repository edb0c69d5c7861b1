package monitor

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentCounts is what this instance has added to Redis of each bucket of its
// window, so that each evaluation adds only what came since.
type sentCounts struct {
	epochs [Slices + 1]int64
	counts [Slices + 1]Counts
}

// clusterKeyTTL is how long a slice's counts outlive their window in Redis.
const clusterKeyTTL = 10 * time.Second

// exchange adds this instance's new counts to the cluster's in Redis and sums
// the cluster's window ending at now into c. Each slice is a hash
// apigate:monitor:<route>:<slice width>:<slice> with fields r (requests), e
// (failures) and the numbers of the latency bins, expiring after the window.
// Only the evaluator calls it, with rt.mu held.
func (rt *route) exchange(ctx context.Context, rdb redis.UniversalClient, w *Window, now time.Time, c *Counts) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	prefix := "apigate:monitor:" + rt.name + ":" + strconv.FormatInt(w.width, 10) + ":"
	ttl := w.Length() + clusterKeyTTL
	cur := w.Slice(now)
	next := rt.sent
	pipe := rdb.Pipeline()
	var one Counts
	for i := range w.buckets {
		e := w.buckets[i].epoch.Load()
		if e <= cur-Slices || e > cur {
			continue
		}
		w.buckets[i].read(&one)
		if next.epochs[i] != e {
			next.epochs[i], next.counts[i] = e, Counts{}
		}
		if queueDelta(ctx, pipe, prefix+strconv.FormatInt(e, 10), &one, &next.counts[i]) {
			pipe.Expire(ctx, prefix+strconv.FormatInt(e, 10), ttl)
		}
		next.counts[i] = one
	}
	reads := make([]*redis.MapStringStringCmd, Slices)
	for k := range reads {
		reads[k] = pipe.HGetAll(ctx, prefix+strconv.FormatInt(cur-int64(k), 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	rt.sent = next
	for _, r := range reads {
		sumHash(r.Val(), c)
	}
	return nil
}

// queueDelta queues the increments from sent to now of one slice and reports
// whether there were any.
func queueDelta(ctx context.Context, pipe redis.Pipeliner, key string, now, sent *Counts) bool {
	any := false
	incr := func(field string, d int64) {
		if d != 0 {
			pipe.HIncrBy(ctx, key, field, d)
			any = true
		}
	}
	incr("r", now.Requests-sent.Requests)
	incr("e", now.Errors-sent.Errors)
	for i := range now.Bins {
		if d := now.Bins[i] - sent.Bins[i]; d != 0 {
			incr(strconv.Itoa(i), d)
		}
	}
	return any
}

// sumHash adds one slice's hash into c; fields it does not know are skipped.
func sumHash(h map[string]string, c *Counts) {
	for field, val := range h {
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			continue
		}
		switch field {
		case "r":
			c.Requests += n
		case "e":
			c.Errors += n
		default:
			if i, err := strconv.Atoi(field); err == nil && i >= 0 && i < NumBins {
				c.Bins[i] += n
			}
		}
	}
}

// stateTTL bounds how long Redis keeps the state a cluster last announced: a
// route degraded (or a host unhealthy) for longer announces its recovery
// anyway (the state is gone, so the first instance to recover speaks).
const stateTTL = 24 * time.Hour

// firstToSay stores state under key (SET ... GET) and reports whether it
// changed the stored state: the instance that changes it announces the
// change, the others, seeing the same change, stay silent. When Redis fails
// it reports true with the error: an event twice is better than none.
func firstToSay(ctx context.Context, rdb redis.UniversalClient, key, state string) (bool, error) {
	old, err := rdb.SetArgs(ctx, key, state, redis.SetArgs{Get: true, TTL: stateTTL}).Result()
	switch {
	case err == redis.Nil:
		return true, nil
	case err != nil:
		return true, err
	}
	return old != state, nil
}
