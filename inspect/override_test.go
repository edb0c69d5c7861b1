package inspect

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQueryHasMethodOverride(t *testing.T) {
	for raw, want := range map[string]bool{
		"":                        false,
		"_method=DELETE":          true,
		"a=1&_method=PUT":         true,
		"_METHOD=delete":          true,
		"_Method":                 true,
		"%5Fmethod=DELETE":        true,
		"%5f%6d%65%74%68%6f%64=x": true,
		"a=1;_method=PATCH":       true,
		"method=DELETE":           false,
		"_methods=DELETE":         false,
		"x_method=DELETE":         false,
		"q=_method":               false,
		"_method%=x":              false,
		"%5Fmethod%20=x":          false,
		// PHP reads these as _method.
		".method=DELETE":   true,
		"+method=DELETE":   true,
		"%20method=DELETE": true,
		"%5Bmethod=DELETE": true,
		"-METHOD=DELETE":   true,
		"__method=DELETE":  false,
	} {
		if got := QueryHasMethodOverride(raw); got != want {
			t.Errorf("%q: %v, want %v", raw, got, want)
		}
	}
}

// lenientName folds a name as PHP and other lenient decoders read it.
var lenientName = strings.NewReplacer(".", "_", " ", "_", "[", "_", "-", "_")

// FuzzQueryHasMethodOverride: whenever Go's own query parser finds a
// _method parameter (in any case, or spelt as PHP reads it), so does the
// check.
func FuzzQueryHasMethodOverride(f *testing.F) {
	for _, s := range []string{"_method=x", "a=1&%5Fmethod=2", "_MeThOd", "a;b=c", "%zz&_method"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := QueryHasMethodOverride(raw)
		for _, part := range strings.Split(strings.ReplaceAll(raw, ";", "&"), "&") {
			q, err := url.ParseQuery(part)
			if err != nil {
				continue
			}
			for name := range q {
				if lenientName.Replace(strings.ToLower(name)) == MethodOverrideParam && !got {
					t.Fatalf("%q has %q, not found", raw, name)
				}
			}
		}
	})
}

func TestBodyCheckerFormMethodOverride(t *testing.T) {
	b := &BodyChecker{RefuseOverride: true}
	for doc, want := range map[string]bool{
		"a=1&_method=DELETE":  true,
		"_METHOD=put":         true,
		"%5Fmethod=PATCH&b=2": true,
		"_method":             true,
		"method=DELETE&q=1":   false,
		"note=_method%3DPUT":  false,
		"a=1&_methodx=DELETE": false,
		"a=1&.method=DELETE":  true,
		"%5BMethod=DELETE":    true,
		"comment=%C0%A7+OR+1": false, // no detector: bytes are not read as text
	} {
		b.Reset(BodyForm)
		_, err := b.Write([]byte(doc))
		if err == nil {
			err = b.Close()
		}
		if got := errors.Is(err, ErrMethodOverride); got != want || (!want && err != nil) {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// With strict paths alone (no json_depth, no detector), a JSON body is read
// for a top-level _method member holding a string, split anywhere.
func TestBodyCheckerJSONMethodOverride(t *testing.T) {
	b := &BodyChecker{RefuseOverride: true}
	for doc, want := range map[string]bool{
		`{"note":"x","_method":"DELETE"}`:      true,
		`{"_METHOD":"put"}`:                    true,
		`{"\u005fmethod":"PATCH"}`:             true,
		`{".method":"DELETE"}`:                 true,
		`{"_method":7}`:                        false,
		`{"_method":{"a":"DELETE"}}`:           false,
		`{"item":{"_method":"DELETE"}}`:        false,
		`[{"_method":"DELETE"}]`:               false,
		`{"note":"_method"}`:                   false,
		`{"_methodx":"DELETE","method":"PUT"}`: false,
		`"_method"`:                            false,
	} {
		for cut := 0; cut <= len(doc); cut++ {
			b.Reset(BodyJSON)
			_, err := b.Write([]byte(doc[:cut]))
			if err == nil {
				_, err = b.Write([]byte(doc[cut:]))
			}
			if err == nil {
				err = b.Close()
			}
			if got := errors.Is(err, ErrMethodOverride); got != want || (!want && err != nil) {
				t.Fatalf("%s cut at %d: %v", doc, cut, err)
			}
		}
	}
}

func TestFormScannerUTF8(t *testing.T) {
	for doc, bad := range map[string]bool{
		"name=caf%C3%A9":        false,
		"name=caf\xc3\xa9":      false,
		"caf%C3%A9=1":           false,
		"q=%C0%A7+OR+1%3D1":     true, // an overlong quote
		"q=%E9":                 true,
		"q=\xff":                true,
		"q=%C3":                 true, // cut at the end of a value
		"q=%C3&r=%A9":           true, // ... or of a field
		"%C3=%A9":               true, // ... or of a name
		"q=%ED%A0%80":           true, // a surrogate
		"q=%F0%9F%98%80&r=fine": false,
	} {
		for _, piece := range []int{1, 3, len(doc)} {
			fs := &FormScanner{RequireUTF8: true}
			var err error
			for i := 0; i < len(doc) && err == nil; i += piece {
				_, err = fs.Write([]byte(doc[i:min(i+piece, len(doc))]))
			}
			if err == nil {
				err = fs.Close()
			}
			if errors.Is(err, ErrMalformedUTF8) != bad {
				t.Errorf("%q (pieces of %d): %v", doc, piece, err)
			}
		}
	}
}

func TestUTF8StreamAgreesWithGo(t *testing.T) {
	for _, s := range []string{"", "abc", "é", "\xc3", "\xc0\xae", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xef\xbf\xbf", "😀", "\x80", "a\xe2\x82"} {
		var u utf8Stream
		ok := true
		for i := 0; i < len(s) && ok; i++ {
			ok = u.step(s[i])
		}
		ok = ok && u.complete()
		if ok != utf8.ValidString(s) {
			t.Errorf("%q: %v, Go says %v", s, ok, utf8.ValidString(s))
		}
	}
}

func FuzzUTF8Stream(f *testing.F) {
	f.Add([]byte("caf\xc3\xa9"))
	f.Add([]byte("\xc0\xae"))
	f.Fuzz(func(t *testing.T, s []byte) {
		var u utf8Stream
		ok := true
		for i := 0; i < len(s) && ok; i++ {
			ok = u.step(s[i])
		}
		ok = ok && u.complete()
		if ok != utf8.Valid(s) {
			t.Fatalf("%q: %v, Go says %v", s, ok, utf8.Valid(s))
		}
	})
}
