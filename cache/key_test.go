package cache

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

func TestNormalizeQuery(t *testing.T) {
	tests := map[string]string{
		"":                   "",
		"a=1":                "a=1",
		"b=2&a=1":            "a=1&b=2",
		"a=2&b=1&a=1":        "a=2&a=1&b=1",
		"&&b&&a=&":           "a=&b",
		"x=%41&x=A":          "x=%41&x=A",
		"q=a;b&p=1":          "p=1&q=a;b",
		"ab=1&a=2&a-b=3&a=0": "a=2&a=0&a-b=3&ab=1",
	}
	for in, want := range tests {
		if got := NormalizeQuery(in); got != want {
			t.Errorf("NormalizeQuery(%q) = %q, want %q", in, got, want)
		}
	}
	// More parameters than sorted on the stack.
	var in, want string
	for i := 39; i >= 0; i-- {
		if in != "" {
			in += "&"
		}
		in += fmt.Sprintf("p%02d=%d", i, i)
	}
	for i := 0; i < 40; i++ {
		if want != "" {
			want += "&"
		}
		want += fmt.Sprintf("p%02d=%d", i, i)
	}
	if got := NormalizeQuery(in); got != want {
		t.Errorf("40 params: got %q", got)
	}
}

func TestKeySeparatesPartitions(t *testing.T) {
	alice := Partition{Kind: Consumer, Method: "api_key", Consumer: "alice", Scopes: "orders:read"}
	keys := map[string]string{}
	add := func(name string, k []byte) {
		if prev, ok := keys[string(k)]; ok {
			t.Fatalf("%s and %s share a key", name, prev)
		}
		keys[string(k)] = name
	}
	add("alice", AppendKey(nil, "api.example", "/o", "a=1", alice))
	add("bob", AppendKey(nil, "api.example", "/o", "a=1", Partition{Kind: Consumer, Method: "api_key", Consumer: "bob", Scopes: "orders:read"}))
	add("alice jwt", AppendKey(nil, "api.example", "/o", "a=1", Partition{Kind: Consumer, Method: "jwt", Consumer: "alice", Scopes: "orders:read"}))
	add("alice more scopes", AppendKey(nil, "api.example", "/o", "a=1", Partition{Kind: Consumer, Method: "api_key", Consumer: "alice", Scopes: "orders:read admin"}))
	add("anonymous", AppendKey(nil, "api.example", "/o", "a=1", Partition{Kind: Anonymous}))
	add("shared", AppendKey(nil, "api.example", "/o", "a=1", Partition{Kind: Shared}))
	add("other host", AppendKey(nil, "other.example", "/o", "a=1", alice))
	add("other path", AppendKey(nil, "api.example", "/p", "a=1", alice))
	add("other query", AppendKey(nil, "api.example", "/o", "a=2", alice))
	// Field boundaries cannot be shifted.
	add("shift1", AppendKey(nil, "api.example", "/o", "", Partition{Kind: Consumer, Method: "a", Consumer: "bc"}))
	add("shift2", AppendKey(nil, "api.example", "/o", "", Partition{Kind: Consumer, Method: "ab", Consumer: "c"}))
	// Host case and query order do not matter.
	if !bytes.Equal(AppendKey(nil, "API.Example", "/o", "b=1&a=1", alice), AppendKey(nil, "api.example", "/o", "a=1&b=1", alice)) {
		t.Fatal("host case or query order changes the key")
	}
}

func TestVary(t *testing.T) {
	names, star := VaryNames(http.Header{"Vary": {"accept-encoding, Accept", "ACCEPT"}})
	if star || fmt.Sprint(names) != "[Accept Accept-Encoding]" {
		t.Fatalf("names %v star %v", names, star)
	}
	if _, star := VaryNames(http.Header{"Vary": {"Accept, *"}}); !star {
		t.Fatal("star not seen")
	}
	a := AppendVary(nil, names, http.Header{"Accept": {"application/json"}})
	b := AppendVary(nil, names, http.Header{"Accept": {"text/plain"}})
	c := AppendVary(nil, names, http.Header{"Accept-Encoding": {"application/json"}})
	if bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("different variants share a key")
	}
}

func FuzzNormalizeQuery(f *testing.F) {
	for _, s := range []string{"", "a=1", "b=2&a=1", "&&&", "a=1&a=2&a=0", "%zz=&=x", "p0&p1&p2&p3&p4&p5&p6&p7&p8&p9&p10&p11&p12&p13&p14&p15&p16&p17"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeQuery(s)
		if NormalizeQuery(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormalizeQuery(n))
		}
		if len(n) > len(s) {
			t.Fatalf("grew: %q -> %q", s, n)
		}
		_ = AppendKey(nil, s, s, s, Partition{Kind: Consumer, Consumer: s})
	})
}
