package keystore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestViewAt: a record as the admin API shows it has its status and never
// its hash; the key appears only when given.
func TestViewAt(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	rec, key := mustCreate(t, s, CreateRequest{Consumer: "c", TTL: time.Hour}, t0)
	stored, _ := s.Get(rec.ID)
	stored.Hash = "secret-hash"
	for _, tt := range []struct {
		key, status string
		at          time.Time
	}{{key, `"status":"active"`, t0}, {"", `"status":"expired"`, t0.Add(2 * time.Hour)}} {
		b, err := json.Marshal(stored.ViewAt(tt.key, tt.at))
		if err != nil {
			t.Fatal(err)
		}
		out := string(b)
		if strings.Contains(out, "secret-hash") || !strings.Contains(out, tt.status) || strings.Contains(out, `"key"`) != (tt.key != "") {
			t.Fatalf("view %s", out)
		}
	}
}
