package limiter

import "time"

// Leases let the gateways sharing a key through Redis spend most of its
// allowance without a call per request: one call advances the key's schedule
// (its TAT) by n requests at once and hands this gateway those n to spend
// locally for at most the lease time.
//
// The bound. A request is charged to the schedule when its lease is granted,
// never later than it is admitted, so the requests admitted in any window of
// length W are the ones charged within it (at most rate·W + burst, as GCRA
// allows) plus the ones charged before it and spent within it: at most one
// lease per gateway, since a gateway holds one lease per key at a time. Leases
// are sized so that this extra, summed over the gateways using the key, stays
// within MaxOvershoot of rate·W + burst; a key whose limit is too small for a
// lease of 2, or that is near its limit, is decided exactly (one call per
// request, a lease of 1 spent at once).

// MaxOvershoot is the share of rate·W + burst that the leases of every gateway
// using a key may add together.
const MaxOvershoot = 0.05

// minLease is the smallest lease worth a lease; below it a key is exact.
const minLease = 2

// Take is Decide for want requests at once, the reference of the lease script:
// when the key has room for want requests plus margin more (what the other
// gateways may take), it takes want; when it has room for fewer, it takes one,
// as Decide would (a key near its limit is decided exactly); with no room it
// takes none. It returns how many it took, the decision (Remaining is the room
// left after them) and the TAT to store.
func (l Limit) Take(now, tat int64, want, margin int) (int, Result, int64) {
	iv := int64(l.Interval)
	if tat < now {
		tat = now
	}
	room := (now + int64(l.Burst)*iv - tat) / iv
	if room < 1 {
		allowAt := tat + iv - int64(l.Burst)*iv
		return 0, Result{RetryAfter: time.Duration(allowAt - now), Reset: time.Duration(tat - now)}, tat
	}
	n := int64(max(want, 1))
	if room < n+int64(max(margin, 0)) {
		n = 1
	}
	newTat := tat + n*iv
	return int(n), Result{Allowed: true, Remaining: int(room - n), Reset: time.Duration(newTat - now)}, newTat
}

// GiveBack returns the TAT of a key after n requests it was charged for are
// given back at now: moved back by n intervals, never below now (a key cannot
// be owed more than a fresh key has).
func (l Limit) GiveBack(now, tat int64, n int) int64 {
	if tat <= now || n <= 0 {
		return tat
	}
	return max(now, tat-int64(n)*int64(l.Interval))
}

// LeaseCap is the largest lease one of gateways gateways may take of a key
// limited to lim per window: together their leases stay within MaxOvershoot
// of rate·window + burst. Below minLease it is 1: the key is decided exactly.
func LeaseCap(lim Limit, window time.Duration, gateways int) int {
	if lim.Interval <= 0 {
		return 1
	}
	gateways = max(gateways, 1)
	capacity := float64(window/lim.Interval) + float64(lim.Burst)
	c := int(MaxOvershoot * capacity / float64(gateways))
	if c < minLease {
		return 1
	}
	return c
}

// NextLease sizes the next lease of a key from the last one: size requests
// granted, used of them spent within elapsed, of a lease of leaseTime. A lease
// spent before its time ran out asks for what the same demand would spend in a
// whole lease time: more than size, at most four times size. A lease that ran
// out of time asks for what was spent in it. The caller caps the answer with
// LeaseCap.
func NextLease(size, used int, elapsed, leaseTime time.Duration) int {
	size, used = max(size, 1), max(used, 0)
	if used < size && elapsed >= leaseTime {
		return max(used, 1)
	}
	next := 4 * size
	if elapsed > 0 {
		want := float64(used) * float64(leaseTime) / float64(elapsed)
		if want < float64(next) {
			next = int(want + 0.999)
		}
	}
	return max(next, size+1)
}
