package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts read the time from Redis (TIME), in microseconds: every gateway
// using a server decides on the server's clock, so clock skew between the
// gateways changes nothing. (Redis 5 and later, and Valkey, replicate a
// script's effects, which lets a script that writes call TIME.) Lua numbers
// are doubles: exact to 2^53 µs, 285 years. A bucket expires when its TAT
// passes, when it would be indistinguishable from a fresh key anyway.

// takeScript is Limit.Take, atomic in Redis; with want 1 and margin 0 it is
// GCRA for one request (Limit.Decide), the exact path. With a gateway id it
// also notes that this gateway uses the key, in a sorted set of the gateways
// seen within the horizon, and returns how many there are.
//
// First it gives back the requests of an ended lease left unspent
// (Limit.GiveBack).
//
// KEYS[1] the bucket, KEYS[2] its gateways; ARGV interval (µs), burst, want,
// margin, gateway id ("" for none), horizon (ms), requests given back.
// Returns {taken, remaining, retry_after µs, reset µs, gateways}.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local iv = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local g = 1
if ARGV[5] ~= '' then
	local horizon = tonumber(ARGV[6])
	redis.call('ZADD', KEYS[2], now, ARGV[5])
	redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - horizon * 1000)
	redis.call('PEXPIRE', KEYS[2], horizon)
	g = redis.call('ZCARD', KEYS[2])
end
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
	tat = tonumber(v) or now
	if tat < now then tat = now end
end
local back = tonumber(ARGV[7])
if back > 0 and tat > now then
	tat = math.max(now, tat - back * iv)
end
local room = math.floor((now + burst * iv - tat) / iv)
if room < 1 then
	return {0, 0, tat + iv - burst * iv - now, tat - now, g}
end
local n = want
if room < want + margin then n = 1 end
local newtat = tat + n * iv
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
return {n, room - n, 0, newtat - now, g}
`)

// giveBackScript is Limit.GiveBack: KEYS[1] the bucket; ARGV interval (µs),
// requests given back. Returns 1 when the bucket changed.
var giveBackScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local tat = tonumber(v)
if not tat or tat <= now then return 0 end
local newtat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if newtat <= now then
	redis.call('DEL', KEYS[1])
	return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
return 1
`)

// failScript counts a failure with GCRA on KEYS[1], and when it does not
// conform locks KEYS[2] for ARGV[3] milliseconds and forgets the failures.
//
// ARGV interval (µs), burst, lock (ms). Returns the lock in ms, or 0.
var failScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local iv = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
	tat = tonumber(v) or now
	if tat < now then tat = now end
end
local newtat = tat + iv
if now < newtat - burst * iv then
	redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
	redis.call('DEL', KEYS[1])
	return tonumber(ARGV[3])
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
return 0
`)

// Redis is a store of GCRA state in a Redis server (or a Redis Cluster, or
// behind Sentinel), shared by every gateway that uses it. Each decision is one
// EVALSHA (a round trip); the script is loaded on first use and again after a
// server restart. Keys are stored as <prefix>{<hash of the key>}<suffix>, so
// request data (a consumer, an address, a header) never reaches Redis in
// clear, and the keys of one bucket share a cluster slot. Decisions use the
// server's clock: the now arguments of the methods are not used. Safe for
// concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a store on client whose Redis keys start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// redisKey names the Redis key of key: the prefix, then a hash tag holding a
// SHA-256 digest of key (so the keys of one bucket or lockout share a cluster
// slot), then suffix.
func (r *Redis) redisKey(key, suffix string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + "{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}" + suffix
}

// Allow decides a request for key under lim, and records it when it is
// allowed: the exact path.
func (r *Redis) Allow(ctx context.Context, _ time.Time, key string, lim Limit) (Result, error) {
	g, err := r.Take(ctx, key, lim, TakeArgs{Want: 1})
	return g.Result, err
}

// TakeArgs are the arguments of Take.
type TakeArgs struct {
	// Want is how many requests to take; Margin how much more room the key
	// must have for them (else one is taken).
	Want, Margin int
	// GiveBack is how many requests of an ended lease were not spent.
	GiveBack int
	// Gateway identifies this gateway among those using the key, seen within
	// Horizon; empty: do not count gateways.
	Gateway string
	Horizon time.Duration
}

// Grant is the answer of Take.
type Grant struct {
	Result
	// Taken is how many requests were taken: 0 when refused.
	Taken int
	// Gateways is how many gateways used the key within the horizon (1
	// without a gateway id).
	Gateways int
}

// Take is Limit.Take on the key's bucket in Redis, at Redis's time.
func (r *Redis) Take(ctx context.Context, key string, lim Limit, a TakeArgs) (Grant, error) {
	bucket := r.redisKey(key, "")
	keys := []string{bucket, bucket + "g"}
	vals, err := takeScript.Run(ctx, r.client, keys, lim.Interval.Microseconds(), lim.Burst,
		max(a.Want, 1), max(a.Margin, 0), a.Gateway, max(a.Horizon.Milliseconds(), 1), max(a.GiveBack, 0)).Int64Slice()
	if err != nil {
		return Grant{}, err
	}
	if len(vals) != 5 {
		return Grant{}, fmt.Errorf("redis: unexpected answer of the rate limit script")
	}
	return Grant{
		Result: Result{
			Allowed:    vals[0] > 0,
			Remaining:  int(vals[1]),
			RetryAfter: time.Duration(vals[2]) * time.Microsecond,
			Reset:      time.Duration(vals[3]) * time.Microsecond,
		},
		Taken:    int(vals[0]),
		Gateways: int(vals[4]),
	}, nil
}

// Returned is a number of requests taken of a key and not spent.
type Returned struct {
	Key   string
	Limit Limit
	N     int
}

// GiveBack gives the unspent requests back to their keys (Limit.GiveBack), in
// one pipeline.
func (r *Redis) GiveBack(ctx context.Context, rs []Returned) error {
	if len(rs) == 0 {
		return nil
	}
	// Load the script first: in a pipeline, EVALSHA's NOSCRIPT is not retried.
	if err := giveBackScript.Load(ctx, r.client).Err(); err != nil {
		return err
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, x := range rs {
			giveBackScript.EvalSha(ctx, p, []string{r.redisKey(x.Key, "")}, x.Limit.Interval.Microseconds(), x.N)
		}
		return nil
	})
	return err
}

func (r *Redis) locked(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.client.PTTL(ctx, r.redisKey(key, "l")).Result()
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, nil
	}
	return d, nil
}

// Fail counts a failure of key at now under lim; when the failures exceed it,
// key is locked for lock, which Fail returns.
func (r *Redis) Fail(ctx context.Context, now time.Time, key string, lim Limit, lock time.Duration) (time.Duration, error) {
	ms, err := failScript.Run(ctx, r.client, []string{r.redisKey(key, "f"), r.redisKey(key, "l")},
		lim.Interval.Microseconds(), lim.Burst, max(1, lock.Milliseconds())).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}
