package openapi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in   string
		want OpenAPI
		err  string // part of the error, which names the line
	}{
		{in: `api_openapi api.yaml`, want: OpenAPI{File: "api.yaml"}},
		{in: "api_openapi api.yaml {\n validate request response\n scopes from_security\n max_body 2MB\n mode report\n}",
			want: OpenAPI{File: "api.yaml", ValidateRequest: true, ValidateResponse: true, Scopes: "from_security", MaxBody: 2000000, Mode: gateway.Report}},
		{in: `api_openapi`, err: "want the OpenAPI document's file, at Testfile:1"},
		{in: "api_openapi {\n file /etc/api.yaml\n}", want: OpenAPI{File: "/etc/api.yaml"}},
		{in: "api_openapi a.yaml {\n file b.yaml\n}", err: "given twice, at Testfile:2"},
		{in: `api_openapi a.yaml b.yaml`, err: "unexpected argument"},
		{in: "api_openapi a.yaml {\n validate\n}", err: "Testfile:2"},
		{in: "api_openapi a.yaml {\n validate everything\n}", err: "want request or response, at Testfile:2"},
		{in: "api_openapi a.yaml {\n scopes all\n}", err: "want from_security, at Testfile:2"},
		{in: "api_openapi a.yaml {\n max_body lots\n}", err: "invalid size"},
		{in: "api_openapi a.yaml {\n max_body 0\n}", err: "more than 0"},
		{in: "api_openapi a.yaml {\n mode shadow\n}", err: "want enforce or report"},
		{in: "api_openapi a.yaml {\n strict\n}", err: `unrecognized subdirective "strict", at Testfile:2`},
		{in: "api_openapi a.yaml {\n mode report\n mode enforce\n}", err: "duplicate subdirective"},
	}
	for _, tt := range tests {
		var got OpenAPI
		err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
