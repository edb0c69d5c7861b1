package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

// TestNewRedisClient: the client's timeouts are bounded (a URL may only
// shorten them) and it retries once; a bad URL's error never echoes it.
func TestNewRedisClientTimeouts(t *testing.T) {
	c, err := NewRedisClient("redis://127.0.0.1:1/2?dial_timeout=5s&read_timeout=100ms", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.DB != 2 || o.DialTimeout != time.Second || o.ReadTimeout != 100*time.Millisecond || o.WriteTimeout != 500*time.Millisecond || o.MaxRetries != 1 {
		t.Fatalf("options %+v", o)
	}
	_, err = NewRedisClient("mysql://user:hunter2@h/", zap.NewNop())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

// TestSharedRedis: the client stays open while any holder holds it, whatever
// order they let go in, and a release called twice counts once.
func TestSharedRedis(t *testing.T) {
	for _, appFirst := range []bool{true, false} {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 10 * time.Millisecond, MaxRetries: -1})
		s := NewSharedRedis(c)
		held, release := s.Retain()
		if held != c || s.Client() != c {
			t.Fatal("a holder got another client")
		}
		closed := func() bool { return c.Ping(context.Background()).Err() == redis.ErrClosed }
		first, second := s.Release, release
		if !appFirst {
			first, second = release, s.Release
		}
		if err := first(); err != nil || closed() {
			t.Fatalf("appFirst=%v: closed with a holder left (err %v)", appFirst, err)
		}
		if !appFirst {
			_ = release() // a second call of the same release does nothing
			if closed() {
				t.Fatal("a release called twice let go of the opener's hold")
			}
		}
		if err := second(); err != nil || !closed() {
			t.Fatalf("appFirst=%v: open after the last holder let go (err %v)", appFirst, err)
		}
	}
}

// TestSharedRedisNil: a config without Redis has a nil SharedRedis, whose
// client is an untyped nil and whose holds do nothing.
func TestSharedRedisNil(t *testing.T) {
	var s *SharedRedis
	if s.Client() != nil {
		t.Fatal("a typed nil client")
	}
	c, release := s.Retain()
	if c != nil || release() != nil || s.Release() != nil {
		t.Fatal("holds on no Redis")
	}
}
