// Package inspect is api_inspect: the Caddy handler that checks what
// consumers send (size, media type, JSON, paths, method overrides, payloads
// that look like SQL injection or cross-site scripting), masks sensitive data
// in what they get back, and writes one audit record per request.
//
// The handler, its Caddyfile grammar and its response writers are the Caddy
// side (handler.go, checks.go, hold.go, refusals.go, maskwriter.go,
// maskdecode.go, uploadrate.go, audit.go, caddyfile.go). The checkers under
// them are plain Go with no dependency on Caddy: a streaming JSON checker, a
// request path checker, payload scanning on libinjection, form scanning, a
// streaming response masker and a body spool. Every parser here works on a
// stream with bounded memory, never on a whole body, and never recurses, so
// deep or long input cannot exhaust the stack or the heap.
package inspect
