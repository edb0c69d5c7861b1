package apigate

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

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
