// Package gateway holds what every handler of caddy-apigate shares, written
// once: the identity on a request, the client address, problem+json answers,
// the metric collectors, the interface through which handlers reach the
// api_gateway app, and the one rejection path (Gate) that every handler uses to
// refuse a request or, in report mode, to note that it would have.
//
// Capability packages (authn, authz, limiter, inspect, cache, ...) import this
// package and never one another; it imports none of them.
package gateway
