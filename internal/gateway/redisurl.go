package gateway

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// errRedisURL never repeats the URL: it may hold a password.
var errRedisURL = errors.New("redis: the URL is not valid (want redis://[user:password@]host:port/db, rediss://..., " +
	"redis+sentinel://host:port,host:port/mastername[/db], or redis://host:port,host:port,... for a cluster)")

// universalClient returns a client of the Redis that raw names, connecting
// lazily (a Redis down at start is retried on use), with time-outs short
// enough for a request path:
//
//	redis://[user:password@]host:port[/db]          one server (rediss:// for TLS)
//	redis+sentinel://[user:password@]host:port,host:port/mastername[/db]
//	                                                the master the sentinels name;
//	                                                the credentials are the master's
//	redis://[user:password@]host:port,host:port,...  a Redis Cluster, from these nodes
//	redis+cluster://[user:password@]host:port       a Redis Cluster, from one node
//
// Valkey speaks the same protocol and is expected to answer the same URLs (not
// tested by this project's CI). Query parameters are go-redis's options
// (dial_timeout=2s, ...).
func universalClient(raw string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errRedisURL
	}
	base, kind, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, errRedisURL
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	addrs := strings.Split(hosts, ",")
	for _, a := range addrs {
		if a == "" {
			return nil, errRedisURL
		}
	}
	path, query, _ := strings.Cut(tail, "?")
	if kind == "" && len(addrs) > 1 {
		kind = "cluster"
	}
	switch kind {
	case "":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, errRedisURL
		}
		setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
		return redis.NewClient(o), nil
	case "cluster":
		return clusterClient(base, userinfo, addrs, path, query)
	case "sentinel":
		return sentinelClient(base, userinfo, addrs, path, query)
	}
	return nil, errRedisURL
}

// clusterClient is the client of a Redis Cluster reached through addrs.
func clusterClient(base, userinfo string, addrs []string, path, query string) (redis.UniversalClient, error) {
	if path != "" && path != "/" && path != "/0" {
		return nil, errRedisURL // a cluster has one database
	}
	o, err := redis.ParseClusterURL(base + "://" + userinfo + addrs[0] + "?" + withAddrs(query, addrs[1:], ""))
	if err != nil {
		return nil, errRedisURL
	}
	setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
	return redis.NewClusterClient(o), nil
}

// sentinelClient is the client of the master that the sentinels at addrs
// name (path is /<master>[/<db>]); the credentials are the master's.
func sentinelClient(base, userinfo string, addrs []string, path, query string) (redis.UniversalClient, error) {
	master, db, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if master == "" {
		return nil, errRedisURL
	}
	o, err := redis.ParseFailoverURL(base + "://" + addrs[0] + "/" + db + "?" + withAddrs(query, addrs[1:], master))
	if err != nil {
		return nil, errRedisURL
	}
	if u, err := url.Parse(base + "://" + userinfo + "x"); err == nil && u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
	return redis.NewFailoverClient(o), nil
}

// withAddrs adds the other addresses, and the master's name, to a query.
func withAddrs(query string, addrs []string, master string) string {
	q, _ := url.ParseQuery(query)
	if q == nil {
		q = url.Values{}
	}
	for _, a := range addrs {
		q.Add("addr", a)
	}
	if master != "" {
		q.Set("master_name", master)
	}
	return q.Encode()
}

// setTimeouts bounds the time-outs: a request never waits long for Redis,
// which every feature using it falls back from.
func setTimeouts(dial, read, write *time.Duration, retries *int) {
	if *dial == 0 || *dial > time.Second {
		*dial = time.Second
	}
	if *read == 0 || *read > 500*time.Millisecond {
		*read = 500 * time.Millisecond
	}
	if *write == 0 || *write > 500*time.Millisecond {
		*write = 500 * time.Millisecond
	}
	*retries = 1
}
