package apigate

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// problemBody renders a problem details document. Bodies that do not depend on
// the request are rendered once at provision time with it.
func problemBody(status int, detail string) []byte {
	b, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	return b
}

// writeProblem answers with a rendered problem details body. Headers the client
// needs (WWW-Authenticate, Retry-After) are set by the caller before.
func writeProblem(w http.ResponseWriter, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// Answers that do not depend on the request.
var (
	bodyUnauthenticated = problemBody(http.StatusUnauthorized, "this API requires authentication: send an API key or a bearer token")
)

const (
	challengeBare = `Bearer realm="api"`
)
