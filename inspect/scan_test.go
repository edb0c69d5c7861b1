package inspect

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/corazawaf/libinjection-go"
)

var both = Detector{SQLi: true, XSS: true}

func TestAttackCorpusBlocked(t *testing.T) {
	blocked := 0
	for _, c := range attackCorpus {
		a := both.DetectString(c.payload)
		if a != None {
			blocked++
		} else {
			t.Errorf("not blocked: %q", c.payload)
		}
		if a != None && a != c.kind {
			t.Logf("%q: detected as %v, listed as %v", c.payload, a, c.kind)
		}
	}
	for _, v := range knownMisses {
		t.Logf("known miss %q: %v", v, both.DetectString(v))
	}
	t.Logf("attack corpus: %d/%d blocked (%.1f%%)", blocked, len(attackCorpus), 100*float64(blocked)/float64(len(attackCorpus)))
}

func TestBenignCorpusPasses(t *testing.T) {
	passed := 0
	for _, v := range benignCorpus {
		if a := both.DetectString(v); a != None {
			t.Errorf("benign value blocked as %v: %q", a, v)
		} else {
			passed++
		}
	}
	t.Logf("benign corpus: %d/%d passed (%.1f%%)", passed, len(benignCorpus), 100*float64(passed)/float64(len(benignCorpus)))
	for _, v := range knownFalsePositives {
		t.Logf("known false positive %q: %v", v, both.DetectString(v))
	}
}

func TestDetectorSelective(t *testing.T) {
	if (Detector{SQLi: true}).DetectString("<script>alert(1)</script>") != None {
		t.Error("sqli-only detector flagged xss")
	}
	if (Detector{XSS: true}).DetectString("' OR '1'='1") != None {
		t.Error("xss-only detector flagged sqli")
	}
	if (Detector{}).DetectString("' OR '1'='1") != None {
		t.Error("zero detector flagged")
	}
}

func TestCheckQuery(t *testing.T) {
	cases := []struct {
		raw   string
		want  Attack
		where string
	}{
		{"q=hello+world&page=2", None, ""},
		{"name=O%27Reilly", None, ""},
		{"id=1%27%20OR%20%271%27%3D%271", SQLi, `query parameter "id"`},
		{"a=1&search=%3Cscript%3Ealert(1)%3C/script%3E", XSS, `query parameter "search"`},
		{"%3Cbad%3E=%3Cscript%3Ealert(1)%3C/script%3E", XSS, "query parameter"},
		{"x=%zz&y=1+or+1%3D1", SQLi, `query parameter "y"`},
		{"flag&empty=&=", None, ""},
	}
	for _, c := range cases {
		got := CheckQuery(c.raw, both)
		switch {
		case c.want == None && got != nil:
			t.Errorf("%q: %v", c.raw, got)
		case c.want != None && (got == nil || got.Attack != c.want || got.Where != c.where):
			t.Errorf("%q: got %+v, want %v in %s", c.raw, got, c.want, c.where)
		}
	}
}

func TestCheckPathSegments(t *testing.T) {
	if got := CheckPathSegments("/orders/42/items", both); got != nil {
		t.Fatal(got)
	}
	got := CheckPathSegments("/search/<script>alert(1)</script>", both)
	if got == nil || got.Attack != XSS || got.Where != "path segment 2" {
		t.Fatalf("%+v", got)
	}
	if got := CheckPathSegments("/users/1' or '1'='1", both); got == nil || got.Attack != SQLi {
		t.Fatalf("%+v", got)
	}
}

func TestBodyCheckerJSONInjection(t *testing.T) {
	b := &BodyChecker{MaxDepth: 32, Detector: both}
	cases := []struct {
		doc   string
		where string
	}{
		{`{"name":"O'Reilly","note":"select the best"}`, ""},
		{`{"user":{"name":"x' OR '1'='1"}}`, "JSON value at /user/name"},
		{`{"a":[{"b":["ok","\u003cscript\u003ealert(1)\u003c/script\u003e"]}]}`, "JSON value at /a/0/b/1"},
		{`"<img src=x onerror=alert(1)>"`, "JSON value"},
		{`{"<evil>":"<svg/onload=alert(1)>"}`, "JSON value at /~key"},
	}
	for _, c := range cases {
		b.Reset(BodyJSON)
		_, err := b.Write([]byte(c.doc))
		if err == nil {
			err = b.Close()
		}
		inj, _ := err.(*Injection)
		switch {
		case c.where == "" && err != nil:
			t.Errorf("%s: %v", c.doc, err)
		case c.where != "" && (inj == nil || inj.Where != c.where):
			t.Errorf("%s: got %v, want at %s", c.doc, err, c.where)
		}
	}
}

func TestBodyCheckerForm(t *testing.T) {
	b := &BodyChecker{Detector: both}
	for doc, want := range map[string]string{
		"name=O%27Reilly&comment=select+a+color":    "",
		"name=bob&comment=%27+OR+%271%27%3D%271":    `form field "comment"`,
		"a=1&b=%3Cscript%3Ealert(1)%3C%2Fscript%3E": `form field "b"`,
		"a=%zz%3&<x>=<img src=x onerror=alert(1)>":  "form field",
		"just-a-name&c=%":                           "",
		"q=1+union+select+password+from+users&p=%2": `form field "q"`,
	} {
		for _, piece := range []int{1, 2, 5, len(doc)} {
			b.Reset(BodyForm)
			var err error
			for i := 0; i < len(doc) && err == nil; i += piece {
				_, err = b.Write([]byte(doc[i:min(i+piece, len(doc))]))
			}
			if err == nil {
				err = b.Close()
			}
			inj, _ := err.(*Injection)
			switch {
			case want == "" && err != nil:
				t.Errorf("%s: %v", doc, err)
			case want != "" && (inj == nil || inj.Where != want):
				t.Errorf("%s (pieces of %d): got %v, want at %s", doc, piece, err, want)
			}
		}
	}
}

func FuzzFormScanner(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%41%4", "%%%=&&==", "x=%3Cscript%3E", "+=+"} {
		f.Add([]byte(s), uint8(2))
	}
	f.Add([]byte("q=%C0%A7&r=caf%C3%A9"), uint8(1))
	f.Fuzz(func(t *testing.T, doc []byte, split uint8) {
		var whole, pieces []string
		collect := func(dst *[]string) func(n, v []byte) error {
			return func(n, v []byte) error { *dst = append(*dst, string(n)+"="+string(v)); return nil }
		}
		fs := &FormScanner{OnValue: collect(&whole)}
		fs.Write(doc) //nolint:errcheck
		fs.Close()    //nolint:errcheck
		fs = &FormScanner{OnValue: collect(&pieces)}
		piece := int(split)%7 + 1
		for i := 0; i < len(doc); i += piece {
			fs.Write(doc[i:min(i+piece, len(doc))]) //nolint:errcheck
		}
		fs.Close() //nolint:errcheck
		if joinLines(whole) != joinLines(pieces) {
			t.Fatalf("%q: whole %q, in pieces %q", doc, whole, pieces)
		}
		// With RequireUTF8: the same verdict whole and in pieces, and what
		// passes hands over UTF-8 only.
		var values []string
		fs = &FormScanner{OnValue: collect(&values), RequireUTF8: true}
		fs.Write(doc) //nolint:errcheck
		errWhole := fs.Close()
		fs = &FormScanner{OnValue: collect(&pieces), RequireUTF8: true}
		var errPieces error
		for i := 0; i < len(doc) && errPieces == nil; i += piece {
			_, errPieces = fs.Write(doc[i:min(i+piece, len(doc))])
		}
		if errPieces == nil {
			errPieces = fs.Close()
		}
		if errors.Is(errWhole, ErrMalformedUTF8) != errors.Is(errPieces, ErrMalformedUTF8) {
			t.Fatalf("%q: whole %v, in pieces %v", doc, errWhole, errPieces)
		}
		if errWhole == nil && len(doc) < DefaultStringWindow {
			for _, v := range values {
				_, value, _ := strings.Cut(v, "=")
				if !utf8.ValidString(value) {
					t.Fatalf("%q: passed the value %q", doc, value)
				}
			}
		}
	})
}

func BenchmarkBodyCheckJSON1K(b *testing.B) {
	doc := []byte(benchDoc1K)
	c := &BodyChecker{MaxDepth: 32, Detector: both}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset(BodyJSON)
		c.Write(doc) //nolint:errcheck
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzMayXSS checks the claim the XSS pre-filter rests on: libinjection never
// flags a value with neither '<' nor '='.
func FuzzMayXSS(f *testing.F) {
	for _, s := range []string{"javascript:alert(1)", "onload alert(1)", "\" onmouseover alert", "&#60;script&#62;", "expression(alert(1))", "`${alert(1)}`", "vbscript:msgbox"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !mayXSS([]byte(s)) && libinjection.IsXSS(s) {
			t.Fatalf("libinjection flags %q, which the pre-filter lets through", s)
		}
	})
}

// FuzzMayInject checks the SQLi/XSS pre-filter the same way: a single token
// it lets through is never flagged by libinjection.
func FuzzMayInject(f *testing.F) {
	for _, s := range []string{"1--", "abc", "1e5", "0x41", "a-b", "a@b.c", "1,2", "1+1", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if mayInject([]byte(s)) {
			return
		}
		if ok, fp := libinjection.IsSQLi(s); ok {
			t.Fatalf("libinjection flags %q (%s) as SQLi, which the pre-filter lets through", s, fp)
		}
		if libinjection.IsXSS(s) {
			t.Fatalf("libinjection flags %q as XSS, which the pre-filter lets through", s)
		}
	})
}
