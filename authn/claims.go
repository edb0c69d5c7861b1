package authn

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// appendScopes adds the scopes of a claim value (a space-separated string or
// an array of strings) to scopes, skipping duplicates and non-strings.
func appendScopes(scopes []string, val any) []string {
	add := func(s string) {
		if s != "" && len(s) <= MaxClaimLen && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	switch x := val.(type) {
	case string:
		for s := range strings.FieldsSeq(x) {
			add(s)
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				for f := range strings.FieldsSeq(s) {
					add(f)
				}
			}
		}
	}
	return scopes
}

// ClaimString renders a claim value for a placeholder: strings as they are,
// numbers and booleans in JSON form, arrays of those joined by spaces, objects
// as JSON. Values longer than MaxClaimLen are dropped.
func ClaimString(val any) (string, bool) {
	var s string
	switch x := val.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			s = strconv.FormatInt(int64(x), 10)
		} else {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		}
	case bool:
		s = strconv.FormatBool(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			switch e.(type) {
			case []any, map[string]any:
				b, _ := json.Marshal(x)
				return limitClaim(string(b))
			}
			p, _ := ClaimString(e)
			parts = append(parts, p)
		}
		s = strings.Join(parts, " ")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	return limitClaim(s)
}

func limitClaim(s string) (string, bool) {
	if len(s) > MaxClaimLen {
		return "", false
	}
	return s, true
}
