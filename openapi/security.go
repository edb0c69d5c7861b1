package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// rule is what an operation's security requirements ask of a caller, built
// at provision: either nothing (open), or an identity holding every scope of
// at least one alternative.
type rule struct {
	// open is set when the operation needs no identity: `security: []`, an
	// empty requirement `{}` among the alternatives, or no security at all.
	open bool
	// alternatives are the requirements, each the scopes it needs (every
	// one); an empty one is met by any authenticated caller.
	alternatives [][]string
	// insufficient is the 403 naming the scopes.
	insufficient *gateway.Answer
}

// refusal returns the answer the rule gives id, or nil when id may pass. A
// nil rule (an operation of no rule) passes everyone.
func (ru *rule) refusal(id *gateway.Identity, noIdentity *gateway.Answer) *gateway.Answer {
	if ru == nil || ru.open {
		return nil
	}
	if id == nil {
		return noIdentity
	}
	for _, scopes := range ru.alternatives {
		if id.HasAll(scopes) {
			return nil
		}
	}
	return ru.insufficient
}

// buildRules turns the security requirements of every operation of model
// into rules. An operation without its own `security` inherits the
// document's.
func buildRules(model *v3.Document, g *gateway.Gate) (map[*v3.Operation]*rule, error) {
	schemes := map[string]string{}
	if model.Components != nil && model.Components.SecuritySchemes != nil {
		for name, s := range model.Components.SecuritySchemes.FromOldest() {
			schemes[name] = s.Type
		}
	}
	rules := map[*v3.Operation]*rule{}
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			reqs := op.Security
			if reqs == nil {
				reqs = model.Security
			}
			ru, err := newRule(reqs, schemes, g)
			if err != nil {
				return nil, fmt.Errorf("/paths/%s/%s/security: %w", pointerEscaper.Replace(path), method, err)
			}
			rules[op] = ru
		}
	}
	return rules, nil
}

// newRule builds the rule of one operation's requirements. OAuth2 and OpenID
// Connect schemes contribute their scopes; other schemes (apiKey, http,
// mutualTLS) need an authenticated caller, whatever api_auth method it used.
func newRule(reqs []*base.SecurityRequirement, schemes map[string]string, g *gateway.Gate) (*rule, error) {
	ru := &rule{open: len(reqs) == 0}
	for _, req := range reqs {
		if req.ContainsEmptyRequirement || req.Requirements == nil || req.Requirements.Len() == 0 {
			ru.open = true
			continue
		}
		var scopes []string
		for name, reqScopes := range req.Requirements.FromOldest() {
			typ, ok := schemes[name]
			if !ok {
				return nil, fmt.Errorf("security scheme %q is not in components.securitySchemes", name)
			}
			if typ != "oauth2" && typ != "openIdConnect" {
				continue
			}
			for _, s := range reqScopes {
				if msg := gateway.CheckScope(s); msg != "" {
					return nil, fmt.Errorf("%s", msg)
				}
				if !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
		ru.alternatives = append(ru.alternatives, scopes)
	}
	if !ru.open {
		ru.insufficient = insufficientAnswer(g, ru.alternatives)
	}
	return ru, nil
}

// insufficientAnswer is the 403 of a rule: the challenge names the scopes of
// the first alternative (RFC 6750 has one scope list), the detail every
// alternative.
func insufficientAnswer(g *gateway.Gate, alternatives [][]string) *gateway.Answer {
	words := make([]string, len(alternatives))
	for i, scopes := range alternatives {
		words[i] = "[" + strings.Join(scopes, " ") + "]"
	}
	detail := "this operation requires the scopes " + strings.Join(words, " or ")
	return g.Answer(http.StatusForbidden, "insufficient_scope", detail,
		"WWW-Authenticate", fmt.Sprintf(`Bearer realm="api", error="insufficient_scope", scope="%s"`, strings.Join(alternatives[0], " ")))
}
