// Package gatewaytest holds test helpers every capability's tests share.
package gatewaytest

import (
	"encoding/json"
	"strings"
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

// CaddyfileCase is one row of a directive's grammar table: the Caddyfile
// text, and either the JSON the handler becomes or a part of the error it
// gives (which should name the line, "at Testfile:N").
type CaddyfileCase struct {
	In, Want, Err string
}

// CaddyfileTable parses each row's text into a handler that newHandler
// returns and checks the JSON it becomes or the error it gives.
func CaddyfileTable(t *testing.T, rows []CaddyfileCase, newHandler func() caddyfile.Unmarshaler) {
	t.Helper()
	for _, tt := range rows {
		h := newHandler()
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.In))
		if tt.Err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.Err) {
				t.Errorf("%q: error %v, want %q", tt.In, err, tt.Err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.In, err)
			continue
		}
		if got, _ := json.Marshal(h); string(got) != tt.Want {
			t.Errorf("%q:\n got %s\nwant %s", tt.In, got, tt.Want)
		}
	}
}
