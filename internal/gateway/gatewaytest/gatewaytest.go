// Package gatewaytest holds test helpers every capability's tests share.
package gatewaytest

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzDirective feeds arbitrary Caddyfile text to a directive's parser: it
// may fail, but never panic or hang. Text the tokenizer refuses is skipped:
// caddyfile.NewTestDispenser would swallow its error, so such input never
// reaches a parser.
func FuzzDirective(f *testing.F, seeds []string, parse func(*caddyfile.Dispenser) error) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		_ = parse(caddyfile.NewDispenser(tokens))
	})
}
