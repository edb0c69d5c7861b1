// Package openapi holds api_openapi, which makes an OpenAPI document the
// gateway's contract: only the operations it describes pass, requests are
// validated against their operation, and the operation's security
// requirements become the scopes a caller must hold.
package openapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// defaultMaxBody is the largest request body read for validation when
// max_body is not set.
const defaultMaxBody = 1 << 20

// OpenAPI is the api_openapi handler. It matches each request to an operation
// of an OpenAPI 3.0 or 3.1 document, YAML or JSON: a path the document does not
// describe gets 404, a described path with another method 405 with Allow.
// Matching follows the document's servers base paths and path templates. The
// document is parsed and its schemas compiled once, at provision; a reload
// that leaves the file unchanged reuses them.
type OpenAPI struct {
	// File is the OpenAPI document, YAML or JSON. A relative path is relative
	// to Caddy's working directory; references to other local files resolve
	// relative to it, remote references are refused.
	File string `json:"file"`
	// ValidateRequest checks path, query, header and cookie parameters and
	// the request body against the operation: 400 problem+json whose errors
	// list JSON pointers and reasons. Default: off.
	ValidateRequest bool `json:"validate_request,omitempty"`
	// ValidateResponse checks the upstream's responses against the operation,
	// in report mode only: a response that does not match is logged, counted
	// and written to the audit record as would_reject, never refused.
	// Default: off.
	ValidateResponse bool `json:"validate_response,omitempty"`
	// Scopes is "from_security" to enforce the operation's security
	// requirements as api_authorize does: OAuth2 and OpenID Connect scopes
	// become required scopes, other schemes (API keys, HTTP) any authenticated
	// caller; alternatives are OR, the schemes of one requirement AND;
	// `security: []` needs no identity. Default: "" (not enforced).
	Scopes string `json:"scopes,omitempty"`
	// MaxBody is the largest request or response body read for validation, in
	// bytes: a larger request body gets 413, a larger response body is not
	// validated. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Mode is enforce or report. In report mode a request the document would
	// refuse passes on; the refusal is logged, counted as
	// decisions_total{outcome="report"} and written to the audit record as
	// would_reject. Default: enforce.
	Mode gateway.Mode `json:"mode,omitempty"`

	doc    *document
	docKey string
	gate   *gateway.Gate
	// respGate records response mismatches; it is always in report mode.
	respGate *gateway.Gate
	rules    map[*v3.Operation]*rule
	// The refusals, built once.
	notFound, notAllowed, invalid, tooLarge, badResponse *gateway.Answer
	noIdentity                                           *gateway.Answer
}

// ScopesFromSecurity is the value of Scopes that enforces security requirements.
const ScopesFromSecurity = "from_security"

// CaddyModule returns the Caddy module information.
func (OpenAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_openapi",
		New: func() caddy.Module { return new(OpenAPI) },
	}
}

// Provision loads the compiled document from the pool (compiling it when no
// config holds it yet) and builds the refusals.
func (o *OpenAPI) Provision(ctx caddy.Context) error {
	if o.MaxBody == 0 {
		o.MaxBody = defaultMaxBody
	}
	g, err := gateway.NewGate(ctx, "api_openapi", o.Mode)
	if err != nil {
		return err
	}
	o.gate = g
	if o.respGate, err = gateway.NewGate(ctx, "api_openapi", gateway.Report); err != nil {
		return err
	}
	if o.File == "" {
		return errors.New("api_openapi: file is required")
	}
	o.doc, o.docKey, err = loadDocument(o.File)
	if err != nil {
		return err
	}
	if len(o.doc.quoted) > 0 {
		ctx.Logger().Warn("openapi document writes response status codes as bare numbers; OpenAPI wants them quoted, read as strings",
			zap.String("file", o.File), zap.Strings("codes", o.doc.quoted))
	}
	o.notFound = g.Answer(http.StatusNotFound, "unknown_path", "the API has no such path")
	o.notAllowed = g.Answer(http.StatusMethodNotAllowed, "method_not_allowed", "the path does not allow this method")
	o.invalid = g.Answer(http.StatusBadRequest, "invalid_request", detailInvalid)
	o.tooLarge = g.Answer(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("the request body is larger than %d bytes", o.MaxBody))
	o.noIdentity = g.Answer(http.StatusUnauthorized, "no_identity", gateway.DetailUnauthenticated,
		"WWW-Authenticate", gateway.ChallengeBare)
	o.badResponse = o.respGate.Answer(http.StatusBadGateway, "invalid_response", "the response does not match the API description")
	if o.Scopes == ScopesFromSecurity {
		o.rules, err = buildRules(o.doc.model, g)
		if err != nil {
			return fmt.Errorf("openapi document %s: %w", o.File, err)
		}
	}
	return nil
}

// Validate checks the settings.
func (o *OpenAPI) Validate() error {
	if o.Scopes != "" && o.Scopes != ScopesFromSecurity {
		return fmt.Errorf("scopes %q: want %s", o.Scopes, ScopesFromSecurity)
	}
	if o.MaxBody < 0 {
		return errors.New("max_body must not be negative")
	}
	return o.Mode.Validate()
}

// Cleanup releases the document.
func (o *OpenAPI) Cleanup() error {
	if o.docKey != "" {
		_, err := documents.Delete(o.docKey)
		return err
	}
	return nil
}

func (o *OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	var m matched // on the stack: check fills it
	route, answer, x := o.check(r, &m)
	if answer != nil {
		if done, err := o.gate.RejectWith(w, r, answer, x); done {
			return err
		}
	} else {
		o.gate.Pass(start)
	}
	if o.ValidateResponse && route != nil {
		return o.serveValidatingResponse(w, r, next)
	}
	return next.ServeHTTP(w, r)
}

// check matches r to its operation and applies the rules in order: the
// operation exists, the caller holds its scopes, the request matches it. It
// returns the route (nil for no operation; else into, which it fills) and
// the refusal, if any.
func (o *OpenAPI) check(r *http.Request, into *matched) (*matched, *gateway.Answer, gateway.Extra) {
	m, err := o.doc.match(r, into)
	if err != nil {
		if m != nil {
			return nil, o.notAllowed, gateway.Extra{Header: []string{"Allow", o.doc.allow[m.PathItem]}}
		}
		return nil, o.notFound, gateway.Extra{}
	}
	if o.rules != nil {
		if a := o.rules[m.Operation].refusal(gateway.IdentityFrom(r), o.noIdentity); a != nil {
			return m, a, gateway.Extra{}
		}
	}
	if o.ValidateRequest {
		if a, x := o.validateRequest(r, m); a != nil {
			return m, a, x
		}
	}
	return m, nil, gateway.Extra{}
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*OpenAPI)(nil)
	_ caddy.Provisioner           = (*OpenAPI)(nil)
	_ caddy.Validator             = (*OpenAPI)(nil)
	_ caddy.CleanerUpper          = (*OpenAPI)(nil)
)
