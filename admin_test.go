package apigate

import (
	"net/http/httptest"
	"testing"

	"github.com/apigate/caddy-apigate/keystore"
)

func TestRevokeCascadeQuery(t *testing.T) {
	tests := []struct {
		query   string
		want    keystore.Cascade
		wantErr bool
	}{
		{"", keystore.WithSuccessors, false},
		{"keep_successors=false", keystore.WithSuccessors, false},
		{"keep_successors=0", keystore.WithSuccessors, false},
		{"keep_successors=true", keystore.KeyOnly, false},
		{"keep_successors=1", keystore.KeyOnly, false},
		{"keep_successors=yes", keystore.WithSuccessors, true},
		{"keep_successors=", keystore.WithSuccessors, true},
		{"keep_successors=true&keep_successors=false", keystore.WithSuccessors, true},
		{"keep-successors=true", keystore.WithSuccessors, true},
		{"cascade=false", keystore.WithSuccessors, true},
		{"keep_successors=true;x", keystore.WithSuccessors, true},
		{"%zz", keystore.WithSuccessors, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("DELETE", "/api_gateway/keys/AAAAAAAAAAAA", nil)
		r.URL.RawQuery = tt.query
		got, err := revokeCascade(r)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%q: %v, %v; want %v, error %v", tt.query, got, err, tt.want, tt.wantErr)
		}
	}
}
