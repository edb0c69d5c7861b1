package openapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"

	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/router"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// maxErrors is how many errors a 400 lists at most.
const maxErrors = 5

// maxPointer bounds a pointer in an answer: pointers into the body hold the
// request's property names.
const maxPointer = 200

const detailInvalid = "the request does not match the API description"

// fieldError is one entry of a 400's errors list: where and why, never the
// value found there.
type fieldError struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

// invalidProblem is the body of a 400: a problem details object with the
// errors extension.
type invalidProblem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors"`
}

// validateRequest checks r against its operation. The body is read up to
// MaxBody (413 beyond it) and put back for the upstream.
func (o *OpenAPI) validateRequest(r *http.Request, m *matched) (*gateway.Answer, gateway.Extra) {
	route := &m.Route
	var body []byte
	if hasBody(r) {
		var tooLarge bool
		var err error
		body, tooLarge, err = readBody(r, o.MaxBody)
		if tooLarge {
			return o.tooLarge, gateway.Extra{}
		}
		if err != nil {
			return o.invalid, gateway.Extra{Body: invalidBody([]fieldError{{Pointer: "/body", Reason: "the body could not be read"}})}
		}
		defer setBody(r, body)
	}
	errs := o.doc.validateParams(r, m)
	if len(errs) < maxErrors {
		bodyErrs := o.doc.validateBody(r, route, body)
		errs = append(errs, bodyErrs[:min(len(bodyErrs), maxErrors-len(errs))]...)
	}
	if len(errs) == 0 {
		return nil, gateway.Extra{}
	}
	return o.invalid, gateway.Extra{Body: invalidBody(errs)}
}

// hasBody reports whether r may carry a body. Caddy wraps even an empty
// body in its own reader, so r.Body is never http.NoBody there: a request
// that announces a length of 0 and no transfer coding has none.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0
}

// validateParams checks r's parameters: by the operation's paramPlan when
// the trie matched r and the library would list the same parameters (a
// HEAD answered by GET lists only the path item's), else by the library.
func (d *document) validateParams(r *http.Request, m *matched) []fieldError {
	if !d.params[m.Operation] {
		return nil
	}
	if plan := d.plans[m.Operation]; plan != nil && m.byTrie && plan.item == m.PathItem &&
		(r.Method != http.MethodHead || m.PathItem.Head != nil) {
		if errs, undecided := plan.validate(r, &m.values); !undecided {
			return errs
		}
	}
	if ok, verrs := d.validator.ValidateHttpRequestSyncWithPathItem(r, m.PathItem, m.Path); !ok {
		return fieldErrors(verrs)
	}
	return nil
}

// validateBody checks the request body against the operation. A JSON body
// whose schema compileBody covered is checked by its bodySchema; any other
// body, and a JSON body that repeats a key, by the library.
func (d *document) validateBody(r *http.Request, route *router.Route, body []byte) []fieldError {
	op := route.Operation
	if op == nil || op.RequestBody == nil {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	var s *bodySchema
	if ct != "" && containsJSON(ct) {
		s = d.bodies[findMediaType(op.RequestBody.Content, ct)]
	}
	if s != nil {
		if len(body) == 0 {
			if op.RequestBody.Required != nil && *op.RequestBody.Required {
				return []fieldError{{Pointer: "/body", Reason: "is required"}}
			}
			return nil
		}
		errs, undecided := s.validate(body)
		if !undecided {
			return errs
		}
	}
	setBody(r, body)
	if ok, verrs := d.library.ValidateRequestBodyWithPathItem(r, route.PathItem, route.Path); !ok {
		return fieldErrors(verrs)
	}
	return nil
}

// findMediaType finds the media type of content that ct selects, as the
// library does; a plain lowercase type/subtype is looked up without parsing.
func findMediaType(content *orderedmap.Map[string, *v3.MediaType], ct string) *v3.MediaType {
	if plainMediaType(ct) {
		if mt, ok := content.Get(ct); ok {
			return mt
		}
	}
	mt, _ := helpers.FindMediaType(content, ct)
	return mt
}

// plainMediaType reports whether ct is a type/subtype of lowercase token
// characters, which mime.ParseMediaType returns unchanged.
func plainMediaType(ct string) bool {
	slash := strings.IndexByte(ct, '/')
	if slash <= 0 || slash == len(ct)-1 {
		return false
	}
	for i := 0; i < len(ct); i++ {
		c := ct[i]
		if i != slash && !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&^_.+-", c) >= 0) {
			return false
		}
	}
	return true
}

// containsJSON reports whether a media type names JSON, as the library
// decides which bodies to decode as JSON: it contains "json", in any case.
func containsJSON(ct string) bool {
	for i := 0; i+4 <= len(ct); i++ {
		if (ct[i]|0x20) == 'j' && (ct[i+1]|0x20) == 's' && (ct[i+2]|0x20) == 'o' && (ct[i+3]|0x20) == 'n' {
			return true
		}
	}
	return false
}

// readBody reads r's body whole when it has at most max bytes. A body of
// known length is read into one buffer of that length. A larger body is
// left readable as it came (report mode passes it on).
func readBody(r *http.Request, max int64) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > max {
		return nil, true, nil
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		if _, err = io.ReadFull(r.Body, body); err != nil {
			return nil, false, err
		}
		var one [1]byte
		if n, _ := r.Body.Read(one[:]); n == 0 {
			_ = r.Body.Close()
			return body, false, nil
		}
		body = append(body, one[0]) // more than announced: read on
	}
	rest, err := io.ReadAll(io.LimitReader(r.Body, max+1-int64(len(body))))
	body = append(body, rest...)
	if int64(len(body)) > max {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	_ = r.Body.Close()
	return body, false, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// replayBody is a body read whole, given back to the upstream.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

// setBody gives r the body that was read, whatever the library did with
// r.Body: the upstream gets the same bytes.
func setBody(r *http.Request, body []byte) {
	rb := &replayBody{}
	rb.Reset(body)
	r.Body = rb
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// invalidBody renders the 400 of errs.
func invalidBody(errs []fieldError) []byte {
	b, _ := json.Marshal(invalidProblem{
		Type: "about:blank", Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
		Detail: detailInvalid, Errors: errs,
	})
	return b
}

// fieldErrors turns the validator's errors into at most maxErrors pointers
// and reasons. The validator's own messages quote the values it rejected,
// so none is passed on: reasons are built from the schema keyword that
// failed and the names the document gives.
func fieldErrors(verrs []*liberrors.ValidationError) []fieldError {
	var out []fieldError
	add := func(p, reason string) bool {
		if len(p) > maxPointer {
			p = strings.ToValidUTF8(p[:maxPointer], "")
		}
		out = append(out, fieldError{Pointer: p, Reason: reason})
		return len(out) >= maxErrors
	}
	for _, e := range verrs {
		base := basePointer(e)
		if len(e.SchemaValidationErrors) == 0 {
			if add(base, plainReason(e)) {
				return out
			}
			continue
		}
		for _, f := range e.SchemaValidationErrors {
			p := base
			if e.ValidationType == helpers.RequestBodyValidation {
				p += pointer(f.InstancePath)
			}
			if add(p, schemaReason(f)) {
				return out
			}
		}
	}
	if len(out) == 0 {
		out = append(out, fieldError{Pointer: "", Reason: "does not match the operation"})
	}
	return out
}

// basePointer is where an error lies in the request seen as a document:
// /body, /path/<name>, /query/<name>, /header/<name>, /cookie/<name>.
func basePointer(e *liberrors.ValidationError) string {
	if e.ValidationType == helpers.ParameterValidation || e.ParameterName != "" {
		in := e.ValidationSubType
		switch in {
		case helpers.ParameterValidationPath, helpers.ParameterValidationQuery,
			helpers.ParameterValidationHeader, helpers.ParameterValidationCookie:
		default:
			in = "parameter"
		}
		return "/" + in + "/" + pointerEscaper.Replace(e.ParameterName)
	}
	return "/body"
}

// plainReason words an error that names no schema keyword.
func plainReason(e *liberrors.ValidationError) string {
	msg := strings.ToLower(e.Message + " " + e.Reason)
	switch {
	case e.ValidationSubType == helpers.RequestBodyContentType:
		return "the content type is not one the operation accepts"
	case strings.Contains(msg, "missing") || strings.Contains(msg, "required"):
		return "is required"
	case e.ValidationType == helpers.RequestBodyValidation && strings.Contains(msg, "json"):
		return "is not valid JSON"
	case e.ValidationType == helpers.ParameterValidation:
		return "does not match the parameter's schema"
	}
	return "does not match the operation"
}

// Reasons of the JSON Schema validator that hold no value: type names and
// property names the schema declares.
var (
	safeType     = regexp.MustCompile(`^got [a-z]+, want [a-z, ]+$`)
	safeRequired = regexp.MustCompile(`^missing propert(y|ies) '[^']{1,64}'(, '[^']{1,64}')*$`)
)

// schemaReason words one schema failure by the keyword that failed.
func schemaReason(f *liberrors.SchemaValidationFailure) string {
	if safeType.MatchString(f.Reason) || safeRequired.MatchString(f.Reason) {
		return f.Reason
	}
	kw := f.KeywordLocation
	if i := strings.LastIndexByte(kw, '/'); i >= 0 {
		kw = kw[i+1:]
	}
	if kw == "" || len(kw) > 32 || strings.ContainsAny(kw, "'\" ") {
		return "does not match the schema"
	}
	return "does not satisfy " + kw
}
