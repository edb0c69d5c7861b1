package keystore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestMetadata(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	md := map[string]string{"account": "acme-42", "tenant_id": "t1"}
	rec, _ := mustCreate(t, s, CreateRequest{Consumer: "c", Metadata: md}, t0)
	md["account"] = "changed by the caller"
	got, ok := s.Get(rec.ID)
	if !ok || got.Metadata["account"] != "acme-42" || got.Metadata["tenant_id"] != "t1" {
		t.Fatalf("stored metadata %v", got.Metadata)
	}
	pub := got.Public()
	pub.Metadata["account"] = "x"
	if again, _ := s.Get(rec.ID); again.Metadata["account"] != "acme-42" {
		t.Fatal("Public shares the metadata map")
	}
	_, fresh, _, err := s.Rotate(context.Background(), rec.ID, time.Hour, t0)
	if err != nil || fresh.Metadata["account"] != "acme-42" {
		t.Fatalf("rotation lost the metadata: %v %v", err, fresh.Metadata)
	}
}

func TestMetadataValidation(t *testing.T) {
	s, _ := newTestStore(t, Policy{})
	many := map[string]string{}
	for i := range MaxMetadata + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for name, md := range map[string]map[string]string{
		"upper name": {"Account": "a"},
		"dash name":  {"tenant-id": "a"},
		"dot name":   {"a.b": "a"},
		"empty name": {"": "a"},
		"long name":  {strings.Repeat("a", MaxMetadataName+1): "a"},
		"long value": {"a": strings.Repeat("v", MaxMetadataValue+1)},
		"newline":    {"a": "x\r\nX-Injected: 1"},
		"bad utf8":   {"a": "\xff"},
		"too many":   many,
	} {
		if _, _, err := s.Create(context.Background(), CreateRequest{Consumer: "c", Metadata: md}, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzValidateMetadata: metadata that passes can go into a placeholder name
// and a request header as it is.
func FuzzValidateMetadata(f *testing.F) {
	f.Add("account", "acme-42")
	f.Add("tenant_id", "x\r\nX-Injected: 1")
	f.Add("Bad.Name", "\xff")
	f.Add("a", "caf\u00e9 \u2028")
	f.Fuzz(func(t *testing.T, name, val string) {
		if ValidateMetadata(map[string]string{name: val}) != nil {
			return
		}
		if !ValidMetadataName(name) || strings.ContainsAny(name, "{}.") || len(val) > MaxMetadataValue {
			t.Fatalf("accepted name %q", name)
		}
		for _, r := range val {
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				t.Fatalf("accepted value %q", val)
			}
		}
	})
}
