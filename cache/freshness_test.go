package cache

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestDecide(t *testing.T) {
	none := ParseCacheControl(nil)
	ttl := Policy{DefaultTTL: 30 * time.Second}
	share := Policy{DefaultTTL: 30 * time.Second, SharePublic: true}
	date := t0.Format(http.TimeFormat)
	tests := []struct {
		name     string
		status   int
		h        http.Header
		req      Directives
		p        Policy
		store    bool
		shared   bool
		lifetime time.Duration
		age      time.Duration
		reason   string
	}{
		{"default ttl", 200, hdr(), none, ttl, true, false, 30 * time.Second, 0, ""},
		{"no ttl, no freshness", 200, hdr(), none, Policy{}, false, false, 0, 0, "no-freshness"},
		{"max-age", 200, hdr("Cache-Control", "max-age=60"), none, ttl, true, false, 60 * time.Second, 0, ""},
		{"s-maxage wins", 200, hdr("Cache-Control", "max-age=60, s-maxage=5"), none, ttl, true, false, 5 * time.Second, 0, ""},
		{"max-age=0", 200, hdr("Cache-Control", "max-age=0"), none, ttl, false, false, 0, 0, "stale"},
		{"no-store", 200, hdr("Cache-Control", "no-store, max-age=60"), none, ttl, false, false, 0, 0, "no-store"},
		{"private", 200, hdr("Cache-Control", "private, max-age=60"), none, ttl, false, false, 0, 0, "private"},
		{"no-cache", 200, hdr("Cache-Control", "no-cache"), none, ttl, false, false, 0, 0, "no-cache"},
		{"qualified no-cache", 200, hdr("Cache-Control", `no-cache="Set-Cookie", max-age=60`), none, ttl, false, false, 0, 0, "no-cache"},
		{"request no-store", 200, hdr(), ParseCacheControl([]string{"no-store"}), ttl, false, false, 0, 0, "request-no-store"},
		{"set-cookie", 200, hdr("Set-Cookie", "a=b", "Cache-Control", "max-age=60"), none, ttl, false, false, 0, 0, "set-cookie"},
		{"vary star", 200, hdr("Vary", "Accept, *"), none, ttl, false, false, 0, 0, "vary-star"},
		{"public not shared", 200, hdr("Cache-Control", "public, max-age=9"), none, ttl, true, false, 9 * time.Second, 0, ""},
		{"public shared", 200, hdr("Cache-Control", "public, max-age=9"), none, share, true, true, 9 * time.Second, 0, ""},
		{"public uses ttl", 200, hdr("Cache-Control", "public"), none, share, true, true, 30 * time.Second, 0, ""},
		{"500", 500, hdr("Cache-Control", "max-age=60"), none, ttl, false, false, 0, 0, "status"},
		{"502", 502, hdr(), none, ttl, false, false, 0, 0, "status"},
		{"206", 206, hdr("Cache-Control", "max-age=60"), none, ttl, false, false, 0, 0, "status"},
		{"404 heuristic", 404, hdr(), none, ttl, false, false, 0, 0, "no-freshness"},
		{"404 explicit", 404, hdr("Cache-Control", "max-age=10"), none, ttl, true, false, 10 * time.Second, 0, ""},
		{"expires", 200, hdr("Date", date, "Expires", t0.Add(time.Minute).Format(http.TimeFormat)), none, ttl, true, false, time.Minute, 0, ""},
		{"expires invalid", 200, hdr("Expires", "0"), none, ttl, false, false, 0, 0, "stale"},
		{"expires past", 200, hdr("Date", date, "Expires", t0.Add(-time.Minute).Format(http.TimeFormat)), none, ttl, false, false, 0, 0, "stale"},
		{"max-age beats expires", 200, hdr("Date", date, "Expires", "0", "Cache-Control", "max-age=20"), none, ttl, true, false, 20 * time.Second, 0, ""},
		{"age header", 200, hdr("Cache-Control", "max-age=60", "Age", "15"), none, ttl, true, false, time.Minute, 15 * time.Second, ""},
		{"apparent age", 200, hdr("Cache-Control", "max-age=60", "Date", t0.Add(-20*time.Second).Format(http.TimeFormat)), none, ttl, true, false, time.Minute, 20 * time.Second, ""},
		{"older than max-age", 200, hdr("Cache-Control", "max-age=60", "Age", "61"), none, ttl, false, false, 0, 0, "stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.status, tt.h, tt.req, t0, tt.p)
			if d.Store != tt.store || d.Shared != tt.shared || d.Lifetime != tt.lifetime || d.InitialAge != tt.age || d.Reason != tt.reason {
				t.Fatalf("got %+v, want store=%v shared=%v lifetime=%v age=%v reason=%q", d, tt.store, tt.shared, tt.lifetime, tt.age, tt.reason)
			}
		})
	}
}

func TestEntryUsable(t *testing.T) {
	e := &Entry{Stored: t0, InitialAge: 5 * time.Second, Lifetime: 30 * time.Second}
	none := ParseCacheControl(nil)
	tests := []struct {
		at   time.Duration
		req  Directives
		want bool
	}{
		{0, none, true},
		{24 * time.Second, none, true},
		{25 * time.Second, none, false},
		{10 * time.Second, ParseCacheControl([]string{"max-age=10"}), false},
		{5 * time.Second, ParseCacheControl([]string{"max-age=10"}), true},
		{10 * time.Second, ParseCacheControl([]string{"min-fresh=16"}), false},
		{10 * time.Second, ParseCacheControl([]string{"min-fresh=15"}), true},
		{40 * time.Second, ParseCacheControl([]string{"max-stale=100"}), false},
	}
	for _, tt := range tests {
		if got := e.Usable(t0.Add(tt.at), tt.req); got != tt.want {
			t.Errorf("at +%v with %+v: usable %v, want %v", tt.at, tt.req, got, tt.want)
		}
	}
	if age := e.Age(t0.Add(10 * time.Second)); age != 15*time.Second {
		t.Errorf("age = %v", age)
	}
}

func FuzzDecide(f *testing.F) {
	f.Add(200, "max-age=60", "", "", "")
	f.Add(200, "public, s-maxage=5", "Fri, 27 Nov 2026 12:00:00 GMT", "Fri, 27 Nov 2026 12:01:00 GMT", "3")
	f.Add(404, "", "0", "garbage", "-1")
	f.Add(200, `private="x`, "", "", "99999999999999999999")
	f.Fuzz(func(t *testing.T, status int, cc, expires, date, age string) {
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Expires": expires, "Date": date, "Age": age} {
			if v != "" {
				h.Set(k, v)
			}
		}
		d := Decide(status, h, ParseCacheControl(nil), t0, Policy{DefaultTTL: time.Minute, SharePublic: true})
		if d.Store && (d.Lifetime-d.InitialAge <= 0 || d.InitialAge < 0) {
			t.Fatalf("stored with lifetime %v age %v", d.Lifetime, d.InitialAge)
		}
		if !d.Store && d.Reason == "" {
			t.Fatal("not stored without a reason")
		}
	})
}
