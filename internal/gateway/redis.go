package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewRedisClient returns the client of the Redis that raw names (one server,
// a Sentinel set or a Cluster: see universalClient), the one the api_gateway
// app shares with every handler (App.RedisClient). Its time-outs are short
// and it retries once, so a Redis that is slow or down costs a request little
// before the features that use it fall back as each documents; it connects
// lazily, so a Redis that is down at start does not stop Caddy. go-redis's
// own log lines go to logger from now on.
func NewRedisClient(raw string, logger *zap.Logger) (redis.UniversalClient, error) {
	c, err := universalClient(raw)
	if err != nil {
		return nil, err
	}
	redis.SetLogger(redisLogger{logger})
	return c, nil
}

// redisLogger hands go-redis's own log lines (a pool that cannot dial, a
// subscription that reconnects) to Caddy's logger, so they come out structured
// like every other line, at warn level, instead of as raw lines on stderr.
// go-redis has one logger per process (redis.SetLogger): the last config that
// names a Redis sets it.
type redisLogger struct{ logger *zap.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	if !l.logger.Core().Enabled(zapcore.WarnLevel) {
		return
	}
	msg := strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: ")
	l.logger.Warn(msg)
}

// SharedRedis is a Redis client with a count of its holders: the api_gateway
// app that opened it and the handlers that still need it in their Cleanup (the
// rate limiter gives its unspent leases back). Caddy cleans a config's modules
// up in no fixed order, so the app must not close the client under them: the
// last holder to let go closes it.
type SharedRedis struct {
	client  redis.UniversalClient
	mu      sync.Mutex
	holders int
}

// NewSharedRedis returns c held once, by its opener.
func NewSharedRedis(c redis.UniversalClient) *SharedRedis {
	return &SharedRedis{client: c, holders: 1}
}

// Client returns the client, for use while a holder holds it; nil (not a
// typed nil: callers compare with nil) when s is nil, a config without Redis.
func (s *SharedRedis) Client() redis.UniversalClient {
	if s == nil {
		return nil
	}
	return s.client
}

// Retain holds the client once more; release lets go of that hold (a second
// call does nothing). On a nil s it returns nil and a release that does
// nothing.
func (s *SharedRedis) Retain() (c redis.UniversalClient, release func() error) {
	if s == nil {
		return nil, func() error { return nil }
	}
	s.mu.Lock()
	s.holders++
	s.mu.Unlock()
	var once sync.Once
	return s.client, func() (err error) {
		once.Do(func() { err = s.Release() })
		return err
	}
}

// Release lets go of one hold and closes the client when it was the last.
func (s *SharedRedis) Release() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.holders--
	last := s.holders == 0
	s.mu.Unlock()
	if last {
		return s.client.Close()
	}
	return nil
}
