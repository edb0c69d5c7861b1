package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is GCRA as in Limit.Decide, atomic in Redis, in microseconds (Lua
// numbers are doubles: exact to 2^53 µs, 285 years). The key expires when its
// TAT passes, when it would be indistinguishable from a fresh key anyway.
//
// KEYS[1] the bucket; ARGV now, interval (µs), burst.
// Returns {allowed (0|1), remaining, retry_after µs, reset µs}.
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local iv = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
	tat = tonumber(v) or now
	if tat < now then tat = now end
end
local newtat = tat + iv
local allow_at = newtat - burst * iv
if now < allow_at then
	return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
return {1, math.floor((now - allow_at) / iv), 0, newtat - now}
`)

// failScript counts a failure with GCRA on KEYS[1], and when it does not
// conform locks KEYS[2] for ARGV[4] milliseconds and forgets the failures.
//
// ARGV now, interval (µs), burst, lock (ms). Returns the lock in ms, or 0.
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local iv = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
	tat = tonumber(v) or now
	if tat < now then tat = now end
end
local newtat = tat + iv
if now < newtat - burst * iv then
	redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
	redis.call('DEL', KEYS[1])
	return tonumber(ARGV[4])
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
return 0
`)

// Redis is a store of GCRA state in a Redis server, shared by every gateway that
// uses it. Each decision is one EVALSHA (a round trip); the script is loaded on
// first use and again after a server restart. Keys are stored as
// <prefix><hash of the key>, so request data (a consumer, an address, a
// header) never reaches Redis in clear. Safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a store on client whose Redis keys start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// redisKey names the Redis key of key: the prefix, then a hash tag holding a
// SHA-256 digest of key (so the keys of one lockout share a cluster slot),
// then suffix.
func (r *Redis) redisKey(key, suffix string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + "{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}" + suffix
}

// Allow decides a request for key at now under lim, and records it when it is
// allowed.
func (r *Redis) Allow(ctx context.Context, now time.Time, key string, lim Limit) (Result, error) {
	vals, err := gcraScript.Run(ctx, r.client, []string{r.redisKey(key, "")},
		now.UnixMicro(), lim.Interval.Microseconds(), lim.Burst).Int64Slice()
	if err != nil {
		return Result{}, err
	}
	if len(vals) != 4 {
		return Result{}, fmt.Errorf("redis: unexpected answer of the rate limit script")
	}
	return Result{
		Allowed:    vals[0] == 1,
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * time.Microsecond,
		Reset:      time.Duration(vals[3]) * time.Microsecond,
	}, nil
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
		now.UnixMicro(), lim.Interval.Microseconds(), lim.Burst, max(1, lock.Milliseconds())).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}
