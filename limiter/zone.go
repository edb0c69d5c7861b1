package limiter

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// RateZone is one limit of api_rate_limit.
type RateZone struct {
	// Name names the zone in headers, metrics and events. Default: default.
	Name string `json:"name,omitempty"`

	// ID identifies the zone's buckets: zones with the same ID share them,
	// across the handlers of a config and across config reloads (a reload
	// keeps the buckets of every ID it keeps, under the new settings).
	// Default: the name, so that handlers naming the same zone share it on
	// purpose. The Caddyfile shorthand (api_rate_limit 100/1m) sets it to
	// where the directive is written (Caddyfile:12, and for a snippet where
	// each import of it is written too), so that each shorthand counts on its
	// own, and keeps counting across reloads of the same file.
	ID string `json:"id,omitempty"`

	// Key is what a bucket is kept per: any placeholders, such as
	// {http.auth.user.id} or {http.request.header.X-Tenant}. A key that
	// expands to nothing falls back to the client IP. Default: the consumer
	// api_auth established, else the client IP (honouring the server's
	// trusted_proxies).
	Key string `json:"key,omitempty"`

	// Requests per Window is the rate: a fresh key may make Requests requests
	// at once, then one more every Window/Requests. Required.
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`

	// Burst is how many requests a fresh key may make at once instead of
	// Requests. Default: Requests.
	Burst int `json:"burst,omitempty"`

	// Tiers give callers holding the scope tier:<name> another rate. The first
	// tier listed that the caller holds applies.
	Tiers []*RateTier `json:"tiers,omitempty"`
}

// RateTier is the rate of the callers holding the scope tier:<Name>.
type RateTier struct {
	// Name is the tier: callers holding the scope tier:<Name> get this rate.
	Name string `json:"name,omitempty"`
	// Requests per Window is the tier's rate. Required.
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`
	// Burst is the tier's allowance at once. Default: Requests.
	Burst int `json:"burst,omitempty"`
}

// defaultZone is the name of a zone that has none, as the shorthand's.
const defaultZone = "default"

// identity returns what identifies the zone's buckets: its ID, else its name.
func (z *RateZone) identity() string {
	if z.ID != "" {
		return z.ID
	}
	return z.Name
}

func (z *RateZone) validate() error {
	if err := checkZoneName(z.Name); err != nil {
		return err
	}
	if z.Requests == 0 && z.Window == 0 {
		return fmt.Errorf("zone %s: rate is required (rate 100/1m)", z.Name)
	}
	if _, err := NewLimit(z.Requests, time.Duration(z.Window), z.Burst); err != nil {
		return fmt.Errorf("zone %s: %w", z.Name, err)
	}
	tiers := map[string]bool{}
	for _, t := range z.Tiers {
		if t == nil {
			return fmt.Errorf("zone %s: empty tier", z.Name)
		}
		if err := checkTierName(t.Name); err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
		if tiers[t.Name] {
			return fmt.Errorf("zone %s: tier %q is configured twice", z.Name, t.Name)
		}
		tiers[t.Name] = true
		if _, err := NewLimit(t.Requests, time.Duration(t.Window), t.Burst); err != nil {
			return fmt.Errorf("zone %s: tier %s: %w", z.Name, t.Name, err)
		}
	}
	return nil
}

// checkZoneName checks a zone's name; the empty name is the default one.
func checkZoneName(s string) error {
	ok := len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return fmt.Errorf("zone name %q must be at most 64 letters, digits, '_', '-' or '.'", s)
	}
	return nil
}

// checkTierName checks that callers can hold the scope tier:<s>.
func checkTierName(s string) error {
	if s == "" || gateway.CheckScope("tier:"+s) != "" {
		return fmt.Errorf("tier name %q does not make a valid scope tier:<name>", s)
	}
	return nil
}

// zonePool keeps the in-memory buckets of every zone across config reloads,
// keyed by the zone's identity.
var zonePool = caddy.NewUsagePool()

type pooledMemory struct{ *Memory }

func (pooledMemory) Destruct() error { return nil }

// zoneState is a zone ready for requests.
type zoneState struct {
	name        string
	key         string // placeholder template; "" for the default key
	base        rateSpec
	tiers       []tierSpec
	mem         *Memory
	poolKey     string
	redisPrefix string
	rejected    prometheus.Counter
	answer      *gateway.Answer

	// With the redis backend: this handler's leases of the zone's keys, the
	// refusals remembered until their Retry-After, and the calls counted.
	leases    *leaseTable
	denied    *Memory
	calls     prometheus.Counter
	givenBack prometheus.Counter
}

type rateSpec struct {
	limit  Limit
	window time.Duration
	policy string // the zone's item of RateLimit-Policy
	prefix string // the zone's item of RateLimit, up to ";r="
}

type tierSpec struct {
	scope string
	rateSpec
}

// takeZone readies z, taking its buckets from the pool: the ones a handler of
// this config or of the previous one holds under z's identity, under the new
// bound on keys, else new ones. The caller releases them with
// zonePool.Delete(poolKey). A rate that is not valid leaves a zero Limit,
// which must not decide: Validate refuses the config before it serves.
func takeZone(z *RateZone, maxKeys int, gate *gateway.Gate) (*zoneState, error) {
	id := z.identity()
	poolKey := "apigate.rate_limit.zone:" + id
	val, loaded, err := zonePool.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		return pooledMemory{NewMemory(maxKeys)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("api_rate_limit: zone %s: %w", z.Name, err)
	}
	mem := val.(pooledMemory).Memory
	if loaded {
		mem.SetMaxKeys(maxKeys)
	}
	zs := &zoneState{
		name:        z.Name,
		key:         z.Key,
		mem:         mem,
		poolKey:     poolKey,
		redisPrefix: id + ":",
		rejected:    rejectedByZone.WithLabelValues(z.Name),
		calls:       backendCalls.WithLabelValues(z.Name, "take"),
		givenBack:   backendCalls.WithLabelValues(z.Name, "give_back"),
		answer: gate.Answer(http.StatusTooManyRequests, "limited",
			"the rate limit of zone "+z.Name+" is exceeded; retry after the time in Retry-After"),
	}
	zs.base = newRateSpec(z.Name, z.Requests, time.Duration(z.Window), z.Burst)
	for _, t := range z.Tiers {
		if t != nil {
			zs.tiers = append(zs.tiers, tierSpec{scope: "tier:" + t.Name, rateSpec: newRateSpec(z.Name, t.Requests, time.Duration(t.Window), t.Burst)})
		}
	}
	return zs, nil
}

// newRateSpec builds a limit and its header items.
func newRateSpec(zone string, n int, window time.Duration, burst int) rateSpec {
	lim, _ := NewLimit(n, window, burst)
	q := strconv.Quote(zone)
	return rateSpec{
		limit:  lim,
		window: window,
		policy: fmt.Sprintf("%s;q=%d;w=%d", q, n, ceilSeconds(window)),
		prefix: q + ";r=",
	}
}

// specFor returns the rate of the caller: the first tier it holds, else the
// zone's own.
func (z *zoneState) specFor(id *gateway.Identity) *rateSpec {
	if id != nil {
		for i := range z.tiers {
			if id.HasScope(z.tiers[i].scope) {
				return &z.tiers[i].rateSpec
			}
		}
	}
	return &z.base
}

// keyFor returns the bucket key of the request. Keys of different sources get
// different prefixes, so a consumer named like an address has its own bucket.
func (z *zoneState) keyFor(r *http.Request, repl *caddy.Replacer, id *gateway.Identity) string {
	if z.key == "" {
		if id != nil && id.Consumer != "" {
			return "c:" + id.Consumer
		}
	} else if repl != nil {
		// Unknown placeholders (a header not sent) expand to nothing.
		if k := repl.ReplaceAll(z.key, ""); strings.TrimSpace(k) != "" {
			return "k:" + k
		}
	}
	return "ip:" + gateway.AddrKey(gateway.ClientIP(r))
}
