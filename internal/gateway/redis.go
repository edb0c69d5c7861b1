package gateway

import (
	"context"
	"fmt"
	"strings"

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
