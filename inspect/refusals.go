package inspect

import (
	"errors"
	"net/http"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// answers are api_inspect's refusals, built once at provision time through
// its gates (gateway.Gate.Answer): the answer, its reason word in metrics,
// logs and the audit record, and its static headers.
type answers struct {
	path           map[PathProblem]*gateway.Answer
	injection      [XSS + 1]*gateway.Answer // indexed by Attack; the body names where, per request
	methodOverride *gateway.Answer
	unsupported    *gateway.Answer // a body of a type not in content_types, or of two types
	unscanned      *gateway.Answer // with block, a body of a type that is not read
	charset        *gateway.Answer
	coding         *gateway.Answer
	tooLarge       *gateway.Answer
	malformedJSON  *gateway.Answer
	tooDeep        *gateway.Answer
	malformedUTF8  *gateway.Answer
	unreadable     *gateway.Answer
	undecodable    *gateway.Answer
	slow           *gateway.Answer

	// The answers of the strict gate, which report mode does not turn
	// into passes (Inspect.strictGate).
	unheld     *gateway.Answer // the body could not be held for checking
	unreadBack *gateway.Answer // the held body could not be read back
	response   [unmaskableEncoding + 1]*gateway.Answer
}

// newAnswers builds the refusals of g; those of the strict gate come from
// strict. A body too large or too slow to accept closes its connection, so
// the rest of it is not read.
func newAnswers(g, strict *gateway.Gate) *answers {
	a := &answers{
		path:           make(map[PathProblem]*gateway.Answer, len(PathProblems)),
		methodOverride: g.Answer(http.StatusBadRequest, "method_override", "this API does not accept method overrides (X-HTTP-Method-Override, _method): send the method itself"),
		unsupported:    g.Answer(http.StatusUnsupportedMediaType, "unsupported_media_type", "this API does not accept request bodies of this content type"),
		unscanned:      g.Answer(http.StatusUnsupportedMediaType, "unsupported_media_type", "this API reads every request body: send JSON or a URL-encoded form, with one Content-Type"),
		charset:        g.Answer(http.StatusUnsupportedMediaType, "unsupported_charset", "this API accepts request bodies in UTF-8 only"),
		coding:         g.Answer(http.StatusUnsupportedMediaType, "unsupported_encoding", "this API does not accept request bodies in this content coding (gzip and deflate are accepted)"),
		tooLarge:       g.Answer(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than this API accepts", "Connection", "close"),
		malformedJSON:  g.Answer(http.StatusBadRequest, "malformed_json", "the request body is not well-formed JSON"),
		tooDeep:        g.Answer(http.StatusBadRequest, "json_too_deep", "the request body's JSON is nested deeper than this API accepts"),
		malformedUTF8:  g.Answer(http.StatusBadRequest, "malformed_utf8", "the request body is not well-formed UTF-8"),
		unreadable:     g.Answer(http.StatusBadRequest, "body_unreadable", "the request body could not be read to its end"),
		undecodable:    g.Answer(http.StatusBadRequest, "body_undecodable", "the request body does not decode in its content coding"),
		slow:           g.Answer(http.StatusRequestTimeout, "body_timeout", "the request body arrived too slowly", "Connection", "close"),

		unheld:     strict.Answer(http.StatusInsufficientStorage, "body_unreadable", "the request body could not be held for inspection"),
		unreadBack: strict.Answer(http.StatusBadRequest, "body_unreadable", "the request body could not be read to its end"),
	}
	for _, p := range PathProblems {
		a.path[p] = g.Answer(http.StatusBadRequest, string(p), "the request path is not acceptable: "+p.Describe())
	}
	for _, at := range []Attack{SQLi, XSS} {
		a.injection[at] = g.Answer(http.StatusForbidden, at.String(), "the request was refused: possible "+attackName(at))
	}
	a.response[unmaskablePartial] = strict.Answer(http.StatusBadGateway, "response_partial",
		"the upstream answered with partial content, which this API does not pass on unmasked")
	a.response[unmaskableEncoding] = strict.Answer(http.StatusBadGateway, "response_encoding",
		"the upstream answered in a content coding this API cannot read to mask")
	return a
}

// refusal is a refusal api_inspect makes of a request: the gate that makes
// it, the answer and, when the answer depends on the request, its body.
// The zero refusal lets the request pass.
type refusal struct {
	gate *gateway.Gate
	ans  *gateway.Answer
	body []byte
}

// refuse is a refusal of the checks: in report mode the request passes on.
func (in *Inspect) refuse(a *gateway.Answer) refusal { return refusal{gate: in.gate, ans: a} }

// fail is a refusal that holds in report mode too: the gateway could not do
// what passing the request on needs.
func (in *Inspect) fail(a *gateway.Answer) refusal { return refusal{gate: in.strictGate, ans: a} }

// injection refuses a payload that looks like an attack, naming where it was
// found, never echoing it.
func (in *Inspect) injection(inj *Injection) refusal {
	return refusal{
		gate: in.gate,
		ans:  in.ans.injection[inj.Attack],
		body: gateway.ProblemBody(http.StatusForbidden, "the request was refused: "+inj.Error()),
	}
}

// readRefusal answers a body that could not be read to its end.
func (in *Inspect) readRefusal(err error) refusal {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errSlowBody) || isTimeout(err):
		return in.refuse(in.ans.slow)
	case errors.Is(err, ErrBodyTooLarge) || errors.As(err, &tooBig):
		return in.refuse(in.ans.tooLarge)
	case errors.Is(err, ErrBodyEncoding):
		return in.refuse(in.ans.undecodable)
	}
	return in.refuse(in.ans.unreadable)
}

// bodyRefusal answers a body the checker refused.
func (in *Inspect) bodyRefusal(err error) refusal {
	var inj *Injection
	switch {
	case errors.As(err, &inj):
		return in.injection(inj)
	case errors.Is(err, ErrJSONDepth):
		return in.refuse(in.ans.tooDeep)
	case errors.Is(err, ErrMalformedUTF8):
		return in.refuse(in.ans.malformedUTF8)
	case errors.Is(err, ErrMethodOverride):
		return in.refuse(in.ans.methodOverride)
	}
	return in.refuse(in.ans.malformedJSON)
}
