package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisURLForms(t *testing.T) {
	for _, tt := range []struct {
		url  string
		kind string // single, cluster, sentinel
	}{
		{"redis://127.0.0.1:6379/0", "single"},
		{"rediss://u:p@redis.example:6380/2", "single"},
		{"redis://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002", "cluster"},
		{"redis://:secret@127.0.0.1:7000,127.0.0.1:7001/0?dial_timeout=2s", "cluster"},
		{"redis+cluster://127.0.0.1:7000", "cluster"},
		{"redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster", "sentinel"},
		{"redis+sentinel://:pw@127.0.0.1:26379/mymaster/3", "sentinel"},
	} {
		c, err := universalClient(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		var got string
		switch c.(type) {
		case *redis.Client:
			got = "single" // NewFailoverClient is a *redis.Client too
			if strings.Contains(tt.url, "sentinel") {
				got = "sentinel"
			}
		case *redis.ClusterClient:
			got = "cluster"
		}
		if got != tt.kind {
			t.Errorf("%s: %T, want %s", tt.url, c, tt.kind)
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			if o := cc.Options(); len(o.Addrs) < 1 || o.ReadTimeout != 500*time.Millisecond {
				t.Errorf("%s: %+v", tt.url, o)
			}
		}
		if sc, ok := c.(*redis.Client); ok && sc.Options().ReadTimeout != 500*time.Millisecond {
			t.Errorf("%s: read timeout %v", tt.url, sc.Options().ReadTimeout)
		}
		c.Close()
	}
	for _, bad := range []string{
		"", "127.0.0.1:6379", "http://x", "redis://a,,b", "redis+sentinel://127.0.0.1:26379/",
		"redis://a:1,b:2/3", "redis+foo://a", "redis://:hunter2@h:1/x",
	} {
		if c, err := universalClient(bad); err == nil {
			c.Close()
			t.Errorf("%q: no error", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error repeats the password", bad)
		}
	}
}

// FuzzNewRedisClient: any text gives a client or an error, never a panic,
// and the error is always the one that repeats nothing of the text.
func FuzzRedisURL(f *testing.F) {
	for _, s := range []string{"redis://127.0.0.1:6379/0", "redis://a:1,b:2", "redis+sentinel://a:1,b:2/m/1?dial_timeout=1s", "rediss://u:p@h:1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := universalClient(s)
		if err != nil {
			if err != errRedisURL {
				t.Fatalf("error %v", err)
			}
			return
		}
		c.Close()
	})
}
