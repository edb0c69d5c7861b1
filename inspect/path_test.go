package inspect

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	cases := map[string]PathProblem{
		"/":                     PathOK,
		"/orders":               PathOK,
		"/orders/":              PathOK,
		"/orders/42/items":      PathOK,
		"/files/a.b..c":         PathOK,
		"/files/...":            PathOK,
		"/name/O%27Reilly":      PathOK,
		"/caf%C3%A9":            PathOK,
		"/100%25":               PathOK,
		"/a%20b":                PathOK,
		"/.well-known/x":        PathOK,
		"*":                     PathOK,
		"/a%2Fb":                PathEncodedSlash,
		"/a%2fb":                PathEncodedSlash,
		"/a/./b":                PathDotSegment,
		"/a/../b":               PathDotSegment,
		"/a/..":                 PathDotSegment,
		"/..":                   PathDotSegment,
		"/a/%2e%2e/b":           PathDotSegment,
		"/a/.%2E/b":             PathDotSegment,
		"/a/%2e":                PathDotSegment,
		"//a":                   PathDoubleSlash,
		"/a//b":                 PathDoubleSlash,
		"/a\\b":                 PathBackslash,
		"/a%5cb":                PathBackslash,
		"/a%00b":                PathNUL,
		"/a\x00b":               PathNUL,
		"/a%0ab":                PathControl,
		"/a%7f":                 PathControl,
		"/a%zzb":                PathBadEscape,
		"/a%2":                  PathBadEscape,
		"/a%":                   PathBadEscape,
		"/a%252e%252e/b":        PathDoubleEncoded,
		"/a%252F":               PathDoubleEncoded,
		"a/b":                   PathNotAbsolute,
		"":                      PathNotAbsolute,
		"/ok/then%2F..%2Fadmin": PathEncodedSlash,
	}
	for p, want := range cases {
		if got := CheckPath(p); got != want {
			t.Errorf("%q: got %q, want %q", p, got, want)
		}
		if want != PathOK && CheckPath(p).Describe() == PathOK.Describe() {
			t.Errorf("%q: no description", p)
		}
	}
}

// FuzzCheckPath: a path that passes decodes to a clean path (what a router
// sees after path.Clean is what the upstream gets), and nothing panics.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/../b", "/a%2Fb", "//x", "/%2e%2e", "/a%", "/a%252e", "/caf%C3%A9/", "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		prob := CheckPath(p)
		_ = prob.Describe()
		if prob != PathOK || p == "*" {
			return
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q passed but does not decode: %v", p, err)
		}
		clean := path.Clean(dec)
		if strings.HasSuffix(dec, "/") && clean != "/" {
			clean += "/"
		}
		if clean != dec {
			t.Fatalf("%q passed but decodes to %q, which cleans to %q", p, dec, clean)
		}
		if strings.ContainsAny(dec, "\\\x00") {
			t.Fatalf("%q passed with a backslash or NUL", p)
		}
		if strings.Count(dec, "/") != strings.Count(p, "/") {
			t.Fatalf("%q passed with an encoded slash", p)
		}
	})
}

func BenchmarkCheckPath(b *testing.B) {
	for b.Loop() {
		if CheckPath("/api/v1/orders/ord_1042/items/3") != PathOK {
			b.Fatal("refused")
		}
	}
}
