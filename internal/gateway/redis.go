package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewRedisClient returns a client of the Redis at rawURL
// (redis://[user:password@]host:port/db, or rediss:// for TLS), the one the
// api_gateway app shares with every handler (App.RedisClient). Its timeouts
// are short and it retries once, so a Redis that is slow or down costs a
// request little before the features that use it fall back as each
// documents; it connects lazily, so a Redis that is down at start does not
// stop Caddy. go-redis's own log lines go to logger from now on.
func NewRedisClient(rawURL string, logger *zap.Logger) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: do not echo it.
		return nil, errors.New("the URL is not valid (want redis://[user:password@]host:port/db)")
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > time.Second {
		opts.DialTimeout = time.Second
	}
	if opts.ReadTimeout == 0 || opts.ReadTimeout > 500*time.Millisecond {
		opts.ReadTimeout = 500 * time.Millisecond
	}
	if opts.WriteTimeout == 0 || opts.WriteTimeout > 500*time.Millisecond {
		opts.WriteTimeout = 500 * time.Millisecond
	}
	opts.MaxRetries = 1
	redis.SetLogger(redisLogger{logger})
	return redis.NewClient(opts), nil
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
