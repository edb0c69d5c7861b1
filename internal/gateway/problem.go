package gateway

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

// ProblemBody renders a problem details document. Bodies that do not depend on
// the request are rendered once, at provision time.
func ProblemBody(status int, detail string) []byte {
	b, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	return b
}

// WriteProblem answers with a rendered problem details body. Headers the client
// needs (WWW-Authenticate, Retry-After) are set before. Handlers refuse requests
// through a Gate, which calls it; it is exported for answers that are not
// refusals (a 404 of a handler that answers by itself, a 502 of a provider).
func WriteProblem(w http.ResponseWriter, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// Bearer challenges (RFC 6750) for WWW-Authenticate.
const (
	ChallengeBare    = `Bearer realm="api"`
	ChallengeInvalid = `Bearer realm="api", error="invalid_token"`
	ChallengeRequest = `Bearer realm="api", error="invalid_request"`
)

// DetailUnauthenticated is the detail of a 401 to a request with no
// credential, the same from every handler that needs an identity.
const DetailUnauthenticated = "this API requires authentication: send an API key or a bearer token"

// WriteJSON answers with v as indented JSON that no cache keeps: the
// answers of the admin API and of handlers that answer by themselves with a
// key (api_key_rotate).
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(v)
}
