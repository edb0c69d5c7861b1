package limiter

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// parseAt parses the Caddyfile src, named file, into a handler.
func parseAt(t *testing.T, file, src string) *RateLimit {
	t.Helper()
	tokens, err := caddyfile.Tokenize([]byte(src), file)
	if err != nil {
		t.Fatal(err)
	}
	rl := new(RateLimit)
	if err := rl.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
		t.Fatal(err)
	}
	return rl
}

func TestZoneIdentityFromCaddyfile(t *testing.T) {
	id := func(file, src string) string {
		t.Helper()
		return parseAt(t, file, src).Zones[0].identity()
	}
	// What a reload of the same Caddyfile adapts to again: the same ID, even
	// when the limit changes, and whatever path the file was named by (caddy
	// run --config /etc/caddy/Caddyfile, then a POST /load of its text).
	first := id("/etc/caddy/Caddyfile", "\n\napi_rate_limit 100/1m")
	for _, again := range []struct{ file, src string }{
		{"/etc/caddy/Caddyfile", "\n\napi_rate_limit 100/1m"},
		{"Caddyfile", "\n\napi_rate_limit 100/1m"},
		{"Caddyfile", "# a comment\n\napi_rate_limit 10/1s 20 {\n\tbackend redis\n}"},
	} {
		if got := id(again.file, again.src); got != first {
			t.Errorf("%s %q: ID %q, want %q as before", again.file, again.src, got, first)
		}
	}
	if first != "Caddyfile:3" {
		t.Errorf("ID %q, want Caddyfile:3", first)
	}
	// Another directive, another ID: another line, or another file.
	for _, other := range []struct{ file, src string }{
		{"Caddyfile", "\napi_rate_limit 100/1m"},
		{"sites/orders.caddy", "\n\napi_rate_limit 100/1m"},
	} {
		if got := id(other.file, other.src); got == first {
			t.Errorf("%s %q has the ID %q of another directive", other.file, other.src, got)
		}
	}
	// A named zone is identified by its name, shared on purpose; the ID never
	// collides with a name (names have no ':').
	rl := parseAt(t, "Caddyfile", "api_rate_limit 5/1s {\n\tzone per_ip {\n\t\trate 1/s\n\t}\n}")
	if rl.Zones[1].ID != "" || rl.Zones[1].identity() != "per_ip" {
		t.Errorf("named zone: ID %q, identity %q", rl.Zones[1].ID, rl.Zones[1].identity())
	}
	if checkZoneName(rl.Zones[0].identity()) == nil {
		t.Errorf("the shorthand's ID %q could be a zone name", rl.Zones[0].identity())
	}
	// JSON without an ID keeps today's meaning: the name identifies the zone.
	if z := (&RateZone{Name: "default"}); z.identity() != "default" {
		t.Errorf("JSON zone: identity %q", z.identity())
	}
}

func TestShorthandsCountSeparately(t *testing.T) {
	clock := rlT0
	orders := testRateLimit(t, parseAt(t, "Caddyfile", "\n\napi_rate_limit 2/1h"), &clock)
	billing := testRateLimit(t, parseAt(t, "Caddyfile", "\n\n\n\n\napi_rate_limit 2/1h"), &clock)
	alice := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}
	if n := count(t, orders, alice, 10); n != 2 {
		t.Fatalf("orders: %d, want 2", n)
	}
	if n := count(t, billing, alice, 10); n != 2 {
		t.Fatalf("billing after orders: %d, want 2 of its own", n)
	}
	if orders.zones[0].mem == billing.zones[0].mem {
		t.Fatal("two shorthands share their buckets")
	}
	// A named zone is shared on purpose by the directives that name it.
	src := "api_rate_limit {\n\tzone shared {\n\t\trate 2/1h\n\t}\n}"
	a := testRateLimit(t, parseAt(t, "Caddyfile", src), &clock)
	b := testRateLimit(t, parseAt(t, "other.caddy", "\n\n"+src), &clock)
	if n := count(t, a, alice, 10); n != 2 {
		t.Fatalf("shared zone, first directive: %d", n)
	}
	if n := count(t, b, alice, 10); n != 0 {
		t.Fatalf("shared zone, second directive: %d, want 0", n)
	}
}

// A reload provisions the new config before it cleans the old one up: the
// zone's buckets pass from one to the other under the new settings, and are
// released once no config holds them.
func TestZoneSurvivesReload(t *testing.T) {
	clock := rlT0
	alice := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}
	old := testRateLimit(t, parseAt(t, "Caddyfile", "\napi_rate_limit 3/1h {\n\tmax_keys 100\n}"), &clock)
	if n := count(t, old, alice, 10); n != 3 {
		t.Fatalf("before the reload: %d", n)
	}
	// The new config raises the burst to 10 and the bound on keys.
	next := testRateLimit(t, parseAt(t, "Caddyfile", "\napi_rate_limit 3/1h 10 {\n\tmax_keys 6400\n}"), &clock)
	mem := old.zones[0].mem
	_ = old.Cleanup()
	if next.zones[0].mem != mem {
		t.Fatal("the reload got new buckets")
	}
	if refs, ok := zonePool.References(next.zones[0].poolKey); !ok || refs != 1 {
		t.Fatalf("after the old config's cleanup the pool holds %d references (%v), want 1", refs, ok)
	}
	if got := mem.perShard.Load(); got != 100+100/8+1 { // 6400 keys: 100 a shard, and an eighth more
		t.Errorf("per-shard bound %d: the new max_keys was not applied", got)
	}
	// 3 used at 20m each is a TAT an hour ahead; a burst of 10 leaves 7.
	if n := count(t, next, alice, 20); n != 7 {
		t.Fatalf("after the reload: %d, want 7", n)
	}
	_ = next.Cleanup()
	fresh := testRateLimit(t, parseAt(t, "Caddyfile", "\napi_rate_limit 3/1h"), &clock)
	if fresh.zones[0].mem == mem {
		t.Fatal("buckets no config holds were kept")
	}
	if n := count(t, fresh, alice, 10); n != 3 {
		t.Fatalf("fresh buckets: %d", n)
	}
}
