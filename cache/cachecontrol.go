// Package cache holds api_cache, the gateway's response cache: the handler
// and its Caddyfile grammar, and the logic below them, which does not depend
// on Caddy and takes its clock as an argument: Cache-Control parsing (RFC
// 9111), the storability and freshness decision for a gateway (a shared
// cache), key building, and a bounded store on ristretto with O(1)
// invalidation by path.
package cache

import (
	"strings"
)

// Directives are the Cache-Control directives this cache acts on, from a
// request or a response. The zero value is not meaningful: use
// ParseCacheControl, which sets the delta-seconds fields to -1 when absent.
type Directives struct {
	NoStore, NoCache, Private, Public   bool
	MustRevalidate, ProxyRevalidate     bool
	OnlyIfCached, Immutable             bool
	MaxAge, SMaxAge, MinFresh, MaxStale int64 // seconds; -1 when absent
	present                             bool
}

// Present reports whether any directive was given.
func (d Directives) Present() bool { return d.present }

// maxDelta is the largest delta-seconds honoured (RFC 9111 section 1.2.2).
const maxDelta = 1<<31 - 1

// ParseCacheControl parses the values of Cache-Control header fields. Names
// are case-insensitive; unknown directives are ignored. A delta-seconds value
// that is not a non-negative integer, or a directive given twice with
// different values, makes that directive 0 (stale), as RFC 9111 section 4.2.1
// allows; values past 2^31-1 are capped there.
func ParseCacheControl(values []string) Directives {
	d := Directives{MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1}
	for _, v := range values {
		for len(v) > 0 {
			var name, val string
			var quoted bool
			name, val, quoted, v = nextDirective(v)
			if name == "" {
				continue
			}
			d.present = true
			switch strings.ToLower(name) {
			case "no-store":
				d.NoStore = true
			case "no-cache":
				d.NoCache = true
			case "private":
				d.Private = true
			case "public":
				d.Public = true
			case "must-revalidate":
				d.MustRevalidate = true
			case "proxy-revalidate":
				d.ProxyRevalidate = true
			case "only-if-cached":
				d.OnlyIfCached = true
			case "immutable":
				d.Immutable = true
			case "max-age":
				setDelta(&d.MaxAge, val, quoted)
			case "s-maxage":
				setDelta(&d.SMaxAge, val, quoted)
			case "min-fresh":
				setDelta(&d.MinFresh, val, quoted)
			case "max-stale":
				if val == "" {
					d.MaxStale = maxDelta // any staleness
				} else {
					setDelta(&d.MaxStale, val, quoted)
				}
			}
		}
	}
	return d
}

// setDelta stores a delta-seconds value; an invalid or conflicting one is 0.
func setDelta(dst *int64, val string, quoted bool) {
	n, ok := parseDelta(val)
	if !ok || quoted {
		n = 0
	}
	if *dst >= 0 && *dst != n {
		n = 0
	}
	*dst = n
}

// parseDelta parses delta-seconds: one or more digits, capped at 2^31-1.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	return n, true
}

// nextDirective cuts the first directive off a Cache-Control value: its name,
// its value (unquoted), whether the value was quoted, and the rest.
func nextDirective(s string) (name, val string, quoted bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.TrimSpace(s[:i])
	if i == len(s) || s[i] == ',' {
		return name, "", false, s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if len(s) > 0 && s[0] == '"' {
		// quoted-string: runs to the closing quote, with backslash escapes.
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		if j < len(s) {
			j++ // closing quote
		}
		rest = s[j:]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k:]
		} else {
			rest = ""
		}
		return name, b.String(), true, rest
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		j = len(s)
	}
	return name, strings.TrimSpace(s[:j]), false, s[j:]
}
