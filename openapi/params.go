package openapi

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// A paramPlan validates the path, query and header parameters of one
// operation, compiled at provision, with the library's reading of each
// value: a path segment, a query value (form style, not exploded) or a
// header's first value is coerced to the schema's one scalar type
// (helpers.ParseInteger, ParseNumber, strconv.ParseBool), compared to the
// enum as text (and as an integer for integers), then checked against the
// schema compiled by compileNode. Operations with any other parameter
// (cookie, content, array or object, another style, a type array or a
// combinator) are validated by the library. TestParamsAgreeWithLibrary
// checks that both accept and refuse the same requests.
type paramPlan struct {
	item   *v3.PathItem
	checks []paramCheck // path, then header, then query: the library's order
}

// paramCheck is one parameter.
type paramCheck struct {
	name, pointer string
	in            string
	required      bool
	kind          typeSet     // typeString, typeInteger, typeNumber or typeBoolean
	enum          []string    // the enum values as text; nil without enum
	enumOnly      bool        // a path parameter with an enum: the schema is not checked
	schema        *bodySchema // nil for booleans
	index         int         // a path parameter's place in the template; -1 when not in it
}

// compileParams compiles the parameters of op (with those of its path item,
// as the library lists them for method). It returns nil when the library
// must validate them.
func compileParams(item *v3.PathItem, op *v3.Operation, template string) *paramPlan {
	plan := &paramPlan{item: item}
	names := templateNames(template)
	var path, header, query []paramCheck
	for _, p := range append(append([]*v3.Parameter(nil), item.Parameters...), op.Parameters...) {
		if p == nil || p.Content != nil && p.Content.Len() > 0 {
			return nil
		}
		if p.Schema == nil {
			continue // the library checks nothing of it, not even required
		}
		c, ok := compileParam(p, names)
		if !ok {
			return nil
		}
		switch p.In {
		case helpers.Path:
			path = append(path, c)
		case helpers.Header:
			header = append(header, c)
		default:
			query = append(query, c)
		}
	}
	plan.checks = append(append(path, header...), query...)
	return plan
}

// compileParam compiles one parameter; ok is false for one it leaves to
// the library.
func compileParam(p *v3.Parameter, names []string) (paramCheck, bool) {
	c := paramCheck{name: p.Name, in: p.In, pointer: "/" + p.In + "/" + pointerEscaper.Replace(p.Name), index: -1,
		required: p.Required != nil && *p.Required}
	switch {
	case p.In == helpers.Path && (p.Style == "" || p.Style == "simple"):
		c.index = indexOf(names, p.Name)
	case p.In == helpers.Header && (p.Style == "" || p.Style == "simple"):
	case p.In == helpers.Query && (p.Style == "" || p.Style == helpers.Form) && !p.IsExploded():
	default:
		return c, false
	}
	sch := p.Schema.Schema()
	if sch == nil || len(sch.Type) != 1 {
		return c, false
	}
	c.kind = map[string]typeSet{helpers.String: typeString, helpers.Integer: typeInteger,
		helpers.Number: typeNumber, helpers.Boolean: typeBoolean}[sch.Type[0]]
	if c.kind == 0 {
		return c, false
	}
	if c.kind == typeBoolean {
		return c, true
	}
	if sch.Enum != nil {
		c.enum = make([]string, 0, len(sch.Enum))
		for _, e := range sch.Enum {
			c.enum = append(c.enum, e.Value)
		}
		if c.enumOnly = p.In == helpers.Path; c.enumOnly {
			return c, true
		}
	}
	c.schema = compileParamSchema(sch)
	return c, c.schema != nil
}

// compileParamSchema renders a parameter's schema as the library does for
// ValidateSingleParameterSchema and compiles it, when it has no combinator.
func compileParamSchema(sch *base.Schema) *bodySchema {
	raw, ok := renderSchema(sch, schema_validation.SchemaValidationPurposeGeneric)
	if !ok {
		return nil
	}
	version := float32(3.1)
	if v, ok := sch.GoLow().GetIndex().ResolveDocumentVersion(); ok {
		version = v
	}
	s, err := compileNode(raw, version < 3.05, 0)
	if err != nil || s.allOf != nil || s.anyOf != nil || s.oneOf != nil || s.not != nil {
		return nil
	}
	return s
}

func templateNames(template string) []string {
	var names []string
	for _, seg := range splitTrimmed(template) {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, seg[1:len(seg)-1])
		}
	}
	return names
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// validate checks r's parameters; values are the path parameters the trie
// matched. undecided is true for a query the library must read (a key with
// brackets, which it may take for a deepObject).
func (p *paramPlan) validate(r *http.Request, values *[maxPathParams]string) (errs []fieldError, undecided bool) {
	for i := range p.checks {
		c := &p.checks[i]
		var reason string
		switch c.in {
		case helpers.Path:
			if c.index < 0 {
				continue
			}
			reason, undecided = c.value(values[c.index])
		case helpers.Header:
			if v := r.Header.Get(c.name); v != "" {
				reason, undecided = c.value(v)
			} else if c.required {
				reason = "is required"
			}
		default:
			if errs, undecided = c.query(r.URL.RawQuery, errs); undecided {
				return nil, true
			}
			continue
		}
		if undecided {
			return nil, true
		}
		if reason != "" && len(errs) < maxErrors {
			errs = append(errs, fieldError{Pointer: c.pointer, Reason: reason})
		}
	}
	return errs, false
}

// query checks each value of the parameter in the raw query, read as
// url.ParseQuery reads it (a pair with a semicolon or a bad escape is
// skipped).
func (c *paramCheck) query(raw string, errs []fieldError) ([]fieldError, bool) {
	found := false
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, okK := unescapeQuery(k)
		v, okV := unescapeQuery(v)
		if !okK || !okV {
			continue
		}
		if strings.IndexByte(k, '[') >= 0 {
			return nil, true
		}
		if k != c.name {
			continue
		}
		found = true
		reason, undecided := c.value(v)
		if undecided {
			return nil, true
		}
		if reason != "" && len(errs) < maxErrors {
			errs = append(errs, fieldError{Pointer: c.pointer, Reason: reason})
		}
	}
	if !found && c.required && len(errs) < maxErrors {
		errs = append(errs, fieldError{Pointer: c.pointer, Reason: "is required"})
	}
	return errs, false
}

func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

// value checks one value and returns why it fails ("" when it passes).
// Integers beyond 2^53, which a float64 does not hold exactly, are left to
// the library (undecided).
func (c *paramCheck) value(v string) (reason string, undecided bool) {
	var parsed scalar = v
	var integer int64
	switch c.kind {
	case typeBoolean:
		if _, err := strconv.ParseBool(v); err != nil {
			return "is not a boolean", false
		}
		return "", false
	case typeInteger:
		n, err := helpers.ParseInteger(v)
		if err != nil {
			return "is not an integer", false
		}
		if n > 1<<53 || n < -(1<<53) {
			return "", true
		}
		parsed, integer = float64(n), n
	case typeNumber:
		f, err := helpers.ParseNumber(v)
		if err != nil || math.IsInf(f, 0) {
			return "is not a number", false
		}
		parsed = f
	}
	if c.enum != nil && !c.inEnum(v, integer) {
		return "is not one of the allowed values", false
	}
	if c.enumOnly {
		return "", false
	}
	return c.schema.checkScalar(parsed), false
}

// inEnum compares v to the enum values as the library does: as text, spaces
// trimmed, and for an integer parameter also as an integer.
func (c *paramCheck) inEnum(v string, integer int64) bool {
	v = strings.TrimSpace(v)
	for _, e := range c.enum {
		if v == e {
			return true
		}
		if c.kind == typeInteger {
			if n, err := helpers.ParseInteger(e); err == nil && n == integer {
				return true
			}
		}
	}
	return false
}

// checkScalar checks a string, float64 or bool against s and returns why
// it fails ("" when it passes).
func (s *bodySchema) checkScalar(v scalar) string {
	c := checks.Get().(*bodyCheck)
	defer func() {
		c.errs, c.quiet = nil, 0
		checks.Put(c)
	}()
	var kind typeSet
	ok := true
	switch x := v.(type) {
	case string:
		kind = typeString
	case float64:
		kind = typeNumber
		if x == math.Trunc(x) {
			kind |= typeInteger
		}
	}
	switch {
	case s.any:
	case s.never:
		c.fail("is not allowed here")
		ok = false
	case s.types != 0 && s.types&kind == 0:
		c.fail(typeReason(kind, s.types))
		ok = false
	case kind == typeString:
		ok = c.strValue(s, v.(string), false)
	default:
		ok = c.number(s, v.(float64))
	}
	if ok {
		return ""
	}
	if len(c.errs) > 0 {
		return c.errs[0].Reason
	}
	return "does not match the schema"
}
