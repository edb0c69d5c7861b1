package apigate

import (
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/keystore"
)

func TestParseMeta(t *testing.T) {
	md, err := parseMeta([]string{"account=acme-42", "tenant=eu=1", "empty="})
	if err != nil || md["account"] != "acme-42" || md["tenant"] != "eu=1" || md["empty"] != "" || len(md) != 3 {
		t.Fatalf("%v %v", md, err)
	}
	for in, want := range map[string]string{
		"account":              "want name=value",
		"=v":                   "want name=value",
		"Account=x":            "metadata name",
		"tenant-id=x":          "metadata name",
		"a=x\r\nX-Injected: 1": "not printable",
		"a=" + strings.Repeat("v", keystore.MaxMetadataValue+1): "longer than",
	} {
		if _, err := parseMeta([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", in, err, want)
		}
	}
	if _, err := parseMeta([]string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate: %v", err)
	}
}

// FuzzParseMeta: whatever a user types as --meta, parseMeta either refuses it
// or returns pairs the key store accepts, each from one argument.
func FuzzParseMeta(f *testing.F) {
	f.Add("account=acme-42", "tenant=eu_1")
	f.Add("a=b=c", "a=d")
	f.Add("Bad=1", "x=\x00")
	f.Add("=", "k=\u00e9\u200b")
	f.Fuzz(func(t *testing.T, a, b string) {
		md, err := parseMeta([]string{a, b})
		if err != nil {
			return
		}
		if err := keystore.ValidateMetadata(md); err != nil {
			t.Fatalf("parseMeta accepted %q, %q: %v", a, b, err)
		}
		for name, val := range md {
			if a != name+"="+val && b != name+"="+val {
				t.Fatalf("pair %q=%q is from neither %q nor %q", name, val, a, b)
			}
		}
	})
}
