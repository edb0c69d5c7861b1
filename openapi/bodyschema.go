package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"

	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
)

// A bodySchema is a request body's JSON Schema compiled at provision into a
// tree that bodyCheck walks over the raw body, once, without decoding it into
// Go values. It is built from the schema exactly as libopenapi-validator
// renders it for a request body (references inlined, readOnly properties
// dropped from required), and it covers the keywords listed in compileNode;
// a schema using any other keyword is not compiled, and its requests go to
// the library. TestBodyAgreesWithLibrary and FuzzBodyAgreesWithLibrary
// check that both accept and refuse the same bodies.
type bodySchema struct {
	any, never bool // the boolean schemas true and false
	types      typeSet

	enum []scalar // enum, and const as an enum of one

	minLength, maxLength int // -1 when absent
	pattern              *regexp.Regexp
	patternClass         *byteClass // pattern ^[class]{min,max}$, matched without regexp

	minimum, maximum           bound
	exclusiveMin, exclusiveMax bound
	multipleOf                 *big.Rat

	items              *bodySchema
	minItems, maxItems int

	properties     map[string]int // property name to its index in props
	props          []*bodySchema
	propNames      []string
	required       []string
	requiredMask   uint64      // bit i: props[i] is required
	requiredOthers []string    // required names that are not in properties
	additional     *bodySchema // nil: any additional property passes
	minProperties  int
	maxProperties  int

	allOf, anyOf, oneOf []*bodySchema
	not                 *bodySchema
}

// bound is a minimum or maximum held as the float64 it equals exactly.
type bound struct {
	set bool
	v   float64
}

// scalar is one enum value: nil, a bool, a float64 or a string.
type scalar any

// errUnsupported marks a schema the compiler leaves to the library.
var errUnsupported = errors.New("a keyword that is not compiled")

// annotations are keywords that never change whether a body passes with the
// library's default options (no format or content assertions).
var annotations = map[string]bool{
	"title": true, "description": true, "default": true, "example": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "format": true, "$comment": true,
	"xml": true, "externalDocs": true, "contentMediaType": true, "contentEncoding": true,
	"contentSchema": true, "$schema": true, "$id": true, "$anchor": true,
}

// compileBody renders schema as the library does for a request body and
// compiles it. It returns nil when the schema uses a keyword the compiler
// does not cover: the library validates such bodies.
func compileBody(schema *base.Schema, version float32) *bodySchema {
	raw, ok := renderSchema(schema, schema_validation.SchemaValidationPurposeRequestBody)
	if !ok {
		return nil
	}
	s, err := compileNode(raw, version < 3.05, 0)
	if err != nil {
		return nil
	}
	return s
}

// renderSchema renders schema as the library does for purpose, decoded
// with its numbers kept as written.
func renderSchema(schema *base.Schema, purpose schema_validation.SchemaValidationPurpose) (any, bool) {
	if schema == nil || schema.GoLow() == nil {
		return nil, false
	}
	rendered, err := schema_validation.RenderSchemaForValidation(schema, purpose)
	if err != nil || rendered == nil || len(rendered.RenderedJSON) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(rendered.RenderedJSON))
	dec.UseNumber()
	var raw any
	return raw, dec.Decode(&raw) == nil
}

// compileNode compiles one schema. It is one algorithm: a switch over the
// keywords, each compiled in its own small function.
func compileNode(raw any, v30 bool, depth int) (*bodySchema, error) {
	if depth > 64 {
		return nil, errUnsupported
	}
	switch r := raw.(type) {
	case bool:
		return &bodySchema{any: r, never: !r, minLength: -1, maxLength: -1, maxItems: -1, maxProperties: -1}, nil
	case map[string]any:
		s := &bodySchema{minLength: -1, maxLength: -1, maxItems: -1, maxProperties: -1}
		if v30 {
			if err := openAPI30(r); err != nil {
				return nil, err
			}
		}
		for k, v := range r {
			if err := s.keyword(k, v, v30, depth); err != nil {
				return nil, err
			}
		}
		if v30 && r["nullable"] == true {
			// As the library rewrites OpenAPI 3.0's nullable: null joins the
			// type and the enum; with allOf it becomes a oneOf, left to it.
			if s.allOf != nil {
				return nil, errUnsupported
			}
			if s.types != 0 {
				s.types |= typeNull
			}
			if s.enum != nil {
				s.enum = append(s.enum, nil)
			}
		}
		return s, s.linkRequired()
	}
	return nil, errUnsupported
}

// openAPI30 rewrites OpenAPI 3.0's boolean exclusiveMinimum and
// exclusiveMaximum as the library does: true moves the bound, false drops it.
func openAPI30(r map[string]any) error {
	for _, k := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		ex, ok := r[k[0]].(bool)
		if !ok {
			continue
		}
		if b, has := r[k[1]]; ex && has {
			r[k[0]] = b
			delete(r, k[1])
		} else {
			delete(r, k[0])
		}
	}
	if n, ok := r["nullable"]; ok {
		if _, isBool := n.(bool); !isBool {
			return errUnsupported
		}
	}
	return nil
}

// keyword compiles one keyword of s.
func (s *bodySchema) keyword(k string, v any, v30 bool, depth int) error {
	var err error
	switch k {
	case "type":
		s.types, err = compileTypes(v)
	case "enum", "const":
		err = s.compileEnum(k, v)
	case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
		err = s.compileCount(k, v)
	case "pattern":
		err = s.compilePattern(v)
	case "minimum":
		s.minimum, err = compileBound(v)
	case "maximum":
		s.maximum, err = compileBound(v)
	case "exclusiveMinimum":
		s.exclusiveMin, err = compileBound(v)
	case "exclusiveMaximum":
		s.exclusiveMax, err = compileBound(v)
	case "multipleOf":
		err = s.compileMultipleOf(v)
	case "items":
		s.items, err = compileNode(v, v30, depth+1)
	case "additionalProperties":
		s.additional, err = compileNode(v, v30, depth+1)
	case "properties":
		err = s.compileProperties(v, v30, depth)
	case "required":
		s.required, err = stringList(v)
	case "allOf":
		s.allOf, err = compileList(v, v30, depth)
	case "anyOf":
		s.anyOf, err = compileList(v, v30, depth)
	case "oneOf":
		s.oneOf, err = compileList(v, v30, depth)
	case "not":
		s.not, err = compileNode(v, v30, depth+1)
	case "nullable":
		if !v30 {
			err = errUnsupported
		}
	default:
		if !annotations[k] && !strings.HasPrefix(k, "x-") {
			err = errUnsupported
		}
	}
	return err
}

func (s *bodySchema) compileEnum(k string, v any) error {
	values, ok := v.([]any)
	if k == "const" {
		values, ok = []any{v}, true
	}
	if !ok || s.enum != nil && k == "enum" {
		return errUnsupported
	}
	out := make([]scalar, 0, len(values))
	for _, e := range values {
		switch e := e.(type) {
		case nil, bool, string:
			out = append(out, e)
		case json.Number:
			b, err := compileBound(e)
			if err != nil {
				return err
			}
			out = append(out, b.v)
		default:
			return errUnsupported
		}
	}
	if s.enum != nil { // both enum and const: keep it simple
		return errUnsupported
	}
	s.enum = out
	return nil
}

func (s *bodySchema) compileCount(k string, v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return errUnsupported
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		return errUnsupported
	}
	c := int(i)
	switch k {
	case "minLength":
		s.minLength = c
	case "maxLength":
		s.maxLength = c
	case "minItems":
		s.minItems = c
	case "maxItems":
		s.maxItems = c
	case "minProperties":
		s.minProperties = c
	case "maxProperties":
		s.maxProperties = c
	}
	return nil
}

// compileBound holds a number of the schema as the float64 it is, and
// refuses one that no float64 equals: the library compares the body's
// numbers, decoded as float64, to the schema's exact decimals.
func compileBound(v any) (bound, error) {
	n, ok := v.(json.Number)
	if !ok {
		return bound{}, errUnsupported
	}
	exact, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return bound{}, errUnsupported
	}
	f, _ := exact.Float64()
	back, ok := new(big.Rat).SetString(fmt.Sprint(f))
	if !ok || back.Cmp(exact) != 0 || math.IsInf(f, 0) {
		return bound{}, errUnsupported
	}
	return bound{set: true, v: f}, nil
}

func (s *bodySchema) compileMultipleOf(v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return errUnsupported
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || r.Sign() <= 0 {
		return errUnsupported
	}
	s.multipleOf = r
	return nil
}

func (s *bodySchema) compileProperties(v any, v30 bool, depth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errUnsupported
	}
	s.properties = make(map[string]int, len(m))
	for name, sub := range m {
		c, err := compileNode(sub, v30, depth+1)
		if err != nil {
			return err
		}
		s.properties[name] = len(s.props)
		s.props = append(s.props, c)
		s.propNames = append(s.propNames, name)
	}
	if len(s.props) > 64 {
		return errUnsupported
	}
	return nil
}

// linkRequired turns required names into a mask over props.
func (s *bodySchema) linkRequired() error {
	for _, name := range s.required {
		if i, ok := s.properties[name]; ok {
			s.requiredMask |= 1 << i
		} else {
			s.requiredOthers = append(s.requiredOthers, name)
		}
	}
	if len(s.requiredOthers) > 63 {
		return errUnsupported
	}
	return nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errUnsupported
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		str, ok := e.(string)
		if !ok {
			return nil, errUnsupported
		}
		out = append(out, str)
	}
	return out, nil
}

func compileList(v any, v30 bool, depth int) ([]*bodySchema, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errUnsupported
	}
	out := make([]*bodySchema, 0, len(list))
	for _, e := range list {
		c, err := compileNode(e, v30, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
