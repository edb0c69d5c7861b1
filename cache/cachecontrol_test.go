package cache

import (
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in   []string
		want Directives
	}{
		{nil, Directives{MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1}},
		{[]string{"no-store"}, Directives{NoStore: true, MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"Public, MAX-AGE=60"}, Directives{Public: true, MaxAge: 60, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=60, s-maxage=10"}, Directives{MaxAge: 60, SMaxAge: 10, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=60", "max-age=30"}, Directives{MaxAge: 0, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=60, max-age=60"}, Directives{MaxAge: 60, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=abc"}, Directives{MaxAge: 0, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{`max-age="60"`}, Directives{MaxAge: 0, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=-5"}, Directives{MaxAge: 0, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age=99999999999999999999"}, Directives{MaxAge: maxDelta, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{`private="Set-Cookie, X-Foo", max-age=5`}, Directives{Private: true, MaxAge: 5, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{`no-cache="a\"b,c", public`}, Directives{NoCache: true, Public: true, MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"only-if-cached, min-fresh=5, max-stale"}, Directives{OnlyIfCached: true, MaxAge: -1, SMaxAge: -1, MinFresh: 5, MaxStale: maxDelta, present: true}},
		{[]string{" , ,, must-revalidate ,proxy-revalidate, immutable, x-ext=\"unterminated"}, Directives{MustRevalidate: true, ProxyRevalidate: true, Immutable: true, MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
		{[]string{"max-age = 7"}, Directives{MaxAge: 7, SMaxAge: -1, MinFresh: -1, MaxStale: -1, present: true}},
	}
	for _, tt := range tests {
		if got := ParseCacheControl(tt.in); got != tt.want {
			t.Errorf("ParseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"", "no-store", "public, max-age=60", `private="a, b"`, `no-cache="\`, "max-age=9999999999999999999999", "s-maxage=1,max-age=2", "=,=,", `"`, "max-stale"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseCacheControl([]string{s})
		for _, v := range []int64{d.MaxAge, d.SMaxAge, d.MinFresh, d.MaxStale} {
			if v < -1 || v > maxDelta {
				t.Fatalf("%q: delta %d out of range", s, v)
			}
		}
	})
}
