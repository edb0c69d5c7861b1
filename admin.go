package apigate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
	"github.com/apigate/caddy-apigate/monitor"
)

// adminAPI serves the key management routes on Caddy's admin endpoint:
//
//	POST   /api_gateway/keys             create; 201 with the key, shown once
//	GET    /api_gateway/keys             list (?consumer= filters)
//	GET    /api_gateway/keys/{id}        show
//	POST   /api_gateway/keys/{id}/rotate rotate; body {"grace": "24h"} optional
//	DELETE /api_gateway/keys/{id}        revoke now, with every key it was rotated
//	                                     into (?keep_successors=true: the key alone)
//	DELETE /api_gateway/cache            purge the response cache (?path=/x: one path)
//	GET    /api_gateway/routes           the routes api_monitor watches, live
//
// No answer ever carries a key's hash, and only create and rotate carry the key.
type adminAPI struct {
	now func() time.Time
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.api_gateway",
		New: func() caddy.Module { return &adminAPI{now: time.Now} },
	}
}

// Routes returns the admin routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/api_gateway/keys", Handler: caddy.AdminHandlerFunc(a.handleKeys)},
		{Pattern: "/api_gateway/keys/", Handler: caddy.AdminHandlerFunc(a.handleKey)},
		{Pattern: "/api_gateway/cache", Handler: caddy.AdminHandlerFunc(a.handleCache)},
		{Pattern: "/api_gateway/routes", Handler: caddy.AdminHandlerFunc(a.handleRoutes)},
	}
}

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 64 << 10

// createRequest is the body of POST /api_gateway/keys.
type createRequest struct {
	Consumer    string         `json:"consumer"`
	Scopes      []string       `json:"scopes,omitempty"`
	TTL         caddy.Duration `json:"ttl,omitempty"`
	AllowedIPs  []string       `json:"allowed_ips,omitempty"`
	Description string         `json:"description,omitempty"`
	// Metadata are string pairs (never secret) exposed as
	// {http.auth.user.meta.<name>}.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// rotateRequest is the body of POST /api_gateway/keys/{id}/rotate.
type rotateRequest struct {
	Grace *caddy.Duration `json:"grace,omitempty"`
}

func (a *adminAPI) store() (*keystore.Store, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("api_gateway")
	if err != nil {
		return nil, apiErr(http.StatusServiceUnavailable, "the api_gateway app is not running: configure api_auth in a site or the api_gateway global option")
	}
	app, ok := v.(*App)
	if !ok || app.store == nil {
		return nil, apiErr(http.StatusServiceUnavailable, "the api_gateway app is not ready")
	}
	return app.store, nil
}

func (a *adminAPI) handleKeys(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/api_gateway/keys" {
		return apiErr(http.StatusNotFound, "not found")
	}
	store, err := a.store()
	if err != nil {
		return err
	}
	now := a.now()
	switch r.Method {
	case http.MethodGet:
		consumer := r.URL.Query().Get("consumer")
		out := []keystore.View{}
		for _, rec := range store.List() {
			if consumer == "" || rec.Consumer == consumer {
				out = append(out, rec.ViewAt("", now))
			}
		}
		return gateway.WriteJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var req createRequest
		if err := decodeBody(r, &req, false); err != nil {
			return err
		}
		rec, key, err := store.Create(r.Context(), keystore.CreateRequest{
			Consumer:    req.Consumer,
			Scopes:      req.Scopes,
			AllowedIPs:  req.AllowedIPs,
			Description: req.Description,
			Metadata:    req.Metadata,
			TTL:         time.Duration(req.TTL),
		}, now)
		if err != nil {
			return storeErr(err)
		}
		w.Header().Set("Location", "/api_gateway/keys/"+rec.ID)
		return gateway.WriteJSON(w, http.StatusCreated, rec.ViewAt(key, now))
	}
	return methodNotAllowed(w, "GET, POST")
}

func (a *adminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, "/api_gateway/keys/")
	id, action, _ := strings.Cut(rest, "/")
	if !keystore.ValidID(id) || (action != "" && action != "rotate") {
		return apiErr(http.StatusNotFound, "no such key")
	}
	store, err := a.store()
	if err != nil {
		return err
	}
	now := a.now()
	if action == "rotate" {
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, "POST")
		}
		var req rotateRequest
		if err := decodeBody(r, &req, true); err != nil {
			return err
		}
		grace := time.Duration(-1)
		if req.Grace != nil {
			if *req.Grace < 0 {
				return apiErr(http.StatusBadRequest, "grace must not be negative")
			}
			grace = time.Duration(*req.Grace)
		}
		rec, _, key, err := store.Rotate(r.Context(), id, grace, now)
		if err != nil {
			return storeErr(err)
		}
		w.Header().Set("Location", "/api_gateway/keys/"+rec.ID)
		return gateway.WriteJSON(w, http.StatusCreated, rec.ViewAt(key, now))
	}
	switch r.Method {
	case http.MethodGet:
		rec, ok := store.Get(id)
		if !ok {
			return apiErr(http.StatusNotFound, "no such key")
		}
		return gateway.WriteJSON(w, http.StatusOK, rec.ViewAt("", now))
	case http.MethodDelete:
		cascade, err := revokeCascade(r)
		if err != nil {
			return err
		}
		rec, successors, err := store.Revoke(r.Context(), id, cascade, now)
		if err != nil {
			return storeErr(err)
		}
		v := rec.ViewAt("", now)
		v.RevokedSuccessors = successors
		return gateway.WriteJSON(w, http.StatusOK, v)
	}
	return methodNotAllowed(w, "GET, DELETE")
}

// revokeCascade reads the query of DELETE /api_gateway/keys/{id}: only
// keep_successors, a boolean. Anything else is refused rather than ignored, so
// a misspelt opt-out never passes unnoticed.
func revokeCascade(r *http.Request) (keystore.Cascade, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return keystore.WithSuccessors, apiErr(http.StatusBadRequest, "invalid query string")
	}
	for name, values := range q {
		if name != "keep_successors" || len(values) != 1 {
			return keystore.WithSuccessors, apiErr(http.StatusBadRequest, "the only query parameter is keep_successors, once")
		}
		keep, err := strconv.ParseBool(values[0])
		if err != nil {
			return keystore.WithSuccessors, apiErr(http.StatusBadRequest, "keep_successors must be true or false")
		}
		if keep {
			return keystore.KeyOnly, nil
		}
	}
	return keystore.WithSuccessors, nil
}

// decodeBody reads a JSON object of at most maxAdminBody bytes into v, refusing
// unknown fields and trailing data. An empty body is accepted when optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apiErr(http.StatusUnsupportedMediaType, "the body must be application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return apiErr(http.StatusBadRequest, "reading the body: "+err.Error())
	}
	if len(body) > maxAdminBody {
		return apiErr(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxAdminBody))
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return apiErr(http.StatusBadRequest, "a JSON body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	if dec.More() {
		return apiErr(http.StatusBadRequest, "invalid JSON body: trailing data after the object")
	}
	return nil
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, keystore.ErrInvalid):
		return apiErr(http.StatusBadRequest, err.Error())
	case errors.Is(err, keystore.ErrNotFound):
		return apiErr(http.StatusNotFound, "no such key")
	case errors.Is(err, keystore.ErrConflict):
		return apiErr(http.StatusConflict, err.Error())
	}
	return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
}

func apiErr(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: errors.New(msg)}
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return apiErr(http.StatusMethodNotAllowed, "method not allowed")
}

// Interface guards
var _ caddy.AdminRouter = (*adminAPI)(nil)

// handleRoutes lists the routes api_monitor watches: requests, error rate,
// latency percentiles and state of each, as last evaluated.
func (a *adminAPI) handleRoutes(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/api_gateway/routes" {
		return apiErr(http.StatusNotFound, "not found")
	}
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	return gateway.WriteJSON(w, http.StatusOK, monitor.Snapshot())
}
