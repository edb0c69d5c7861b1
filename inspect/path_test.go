package inspect

import (
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckPath(t *testing.T) {
	cases := map[string]PathProblem{
		"/":                       PathOK,
		"/orders":                 PathOK,
		"/orders/":                PathOK,
		"/orders/42/items":        PathOK,
		"/files/a.b..c":           PathOK,
		"/files/...":              PathTrailingDot,
		"/v1.2/x":                 PathOK,
		"/a.b/c":                  PathOK,
		"/caf%C3%A9/%F0%9F%98%80": PathOK,
		"/name/O%27Reilly":        PathOK,
		"/caf%C3%A9":              PathOK,
		"/100%25":                 PathOK,
		"/a%20b":                  PathOK,
		"/.well-known/x":          PathOK,
		"*":                       PathOK,
		"/a%2Fb":                  PathEncodedSlash,
		"/a%2fb":                  PathEncodedSlash,
		"/a/./b":                  PathDotSegment,
		"/a/../b":                 PathDotSegment,
		"/a/..":                   PathDotSegment,
		"/..":                     PathDotSegment,
		"/a/%2e%2e/b":             PathDotSegment,
		"/a/.%2E/b":               PathDotSegment,
		"/a/%2e":                  PathDotSegment,
		"//a":                     PathDoubleSlash,
		"/a//b":                   PathDoubleSlash,
		"/a\\b":                   PathBackslash,
		"/a%5cb":                  PathBackslash,
		"/a%00b":                  PathNUL,
		"/a\x00b":                 PathNUL,
		"/a%0ab":                  PathControl,
		"/a%7f":                   PathControl,
		"/a%zzb":                  PathBadEscape,
		"/a%2":                    PathBadEscape,
		"/a%":                     PathBadEscape,
		"/a%252e%252e/b":          PathDoubleEncoded,
		"/a%252F":                 PathDoubleEncoded,
		"a/b":                     PathNotAbsolute,
		"":                        PathNotAbsolute,
		"/ok/then%2F..%2Fadmin":   PathEncodedSlash,
		"/admin;x=1/users":        PathParameter,
		"/admin;/users":           PathParameter,
		"/..;/admin":              PathParameter,
		"/admin%3Bx=1/users":      PathParameter,
		"/admin%3b/users":         PathParameter,
		"/users;jsessionid=abc":   PathParameter,
		"/admin./":                PathTrailingDot,
		"/admin.":                 PathTrailingDot,
		"/admin%2e":               PathTrailingDot,
		"/admin%2E/users":         PathTrailingDot,
		"/admin%20/":              PathTrailingDot,
		"/admin%20":               PathTrailingDot,
		"/admin.%20/users":        PathTrailingDot,
		"/a/..%20/admin":          PathTrailingDot,
		"/a/%20":                  PathTrailingDot,
		"/%c0%ae%c0%ae/admin":     PathInvalidUTF8,
		"/a%c0%afb":               PathInvalidUTF8,
		"/caf%E9":                 PathInvalidUTF8,
		"/a%C3":                   PathInvalidUTF8,
		"/a%ED%A0%80":             PathInvalidUTF8,
		"/a%F4%90%80%80":          PathInvalidUTF8,
		"/a\xff":                  PathInvalidUTF8,
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
	for _, s := range []string{"/", "/a/b", "/a/../b", "/a%2Fb", "//x", "/%2e%2e", "/a%", "/a%252e", "/caf%C3%A9/", "/a\\b",
		"/admin;x=1/users", "/admin%3B/x", "/admin./", "/admin%20/", "/admin%2e", "/%c0%ae%c0%ae/", "/a%E9"} {
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
		// What lenient upstreams rewrite: path parameters, segments that
		// end in a dot or a space, bytes a lenient decoder reads as
		// another character.
		if strings.Contains(dec, ";") {
			t.Fatalf("%q passed with a path parameter", p)
		}
		for _, seg := range strings.Split(dec, "/") {
			if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
				t.Fatalf("%q passed with segment %q", p, seg)
			}
		}
		if !utf8.ValidString(dec) {
			t.Fatalf("%q passed but is not UTF-8 once decoded", p)
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
