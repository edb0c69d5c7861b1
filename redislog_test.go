package apigate

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedisLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := redisLogger{zap.New(core).Named("api_gateway").Named("redis")}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v\n", 5, "connection refused")
	got := logs.All()
	if len(got) != 1 {
		t.Fatalf("%d entries", len(got))
	}
	e := got[0]
	if e.Level != zapcore.WarnLevel || e.LoggerName != "api_gateway.redis" || e.Message != "connection pool: failed to dial after 5 attempts: connection refused" {
		t.Fatalf("entry %+v", e)
	}

	quiet, logs := observer.New(zapcore.ErrorLevel)
	redisLogger{zap.New(quiet)}.Printf(context.Background(), "redis: %s", "ignored")
	if logs.Len() != 0 {
		t.Fatal("logged below the configured level")
	}
}
