package inspect

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func checkJSON(t testing.TB, doc string, depth int, piece int) error {
	t.Helper()
	c := &JSONChecker{MaxDepth: depth}
	for i := 0; i < len(doc); i += piece {
		end := min(i+piece, len(doc))
		if _, err := c.Write([]byte(doc[i:end])); err != nil {
			return err
		}
	}
	return c.Close()
}

func TestJSONCheckerWellFormed(t *testing.T) {
	valid := []string{
		`{}`, `[]`, `0`, `-0`, `1.5e10`, `-12.25E-3`, `"x"`, `true`, `false`, `null`,
		` {"a" : [1, 2.0, "x\"y", {"b": null}], "c": {}} `,
		`"\u00e9\ud83d\ude00\n\t\\\/"`, `[[[]]]`, `{"a":{"b":{"c":[true,false]}}}`,
		"\t\r\n[1]\n", `1e+5`, `[0]`,
	}
	for _, doc := range valid {
		for _, piece := range []int{1, 2, 7, len(doc)} {
			if err := checkJSON(t, doc, 0, piece); err != nil {
				t.Errorf("%q (pieces of %d): %v", doc, piece, err)
			}
		}
	}
	invalid := []string{
		``, ` `, `{`, `}`, `[`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`,
		`+1`, `tru`, `truex`, `nul`, `"abc`, `"\x"`, `"\u12G4"`, "\"a\x01b\"", `[1 2]`, `{"a":1 "b":2}`,
		`{} {}`, `[] 1`, `1 2`, `[1]]`, `{"a":1}}`, `[}`, `{]`, `NaN`, `'x'`, `{"a":[1}`, `[,1]`, `{,}`,
	}
	for _, doc := range invalid {
		for _, piece := range []int{1, 3, max(len(doc), 1)} {
			err := checkJSON(t, doc, 0, piece)
			if !errors.Is(err, ErrJSONSyntax) {
				t.Errorf("%q (pieces of %d): got %v, want malformed", doc, piece, err)
			}
		}
		if json.Valid([]byte(doc)) {
			t.Errorf("%q: encoding/json takes it for valid: the table is wrong", doc)
		}
	}
}

func nested(depth int) string {
	return strings.Repeat(`{"a":[`, depth/2) + strings.Repeat("[", depth%2) + "1" + strings.Repeat("]", depth%2) + strings.Repeat(`]}`, depth/2)
}

func TestJSONCheckerDepth(t *testing.T) {
	for _, limit := range []int{1, 2, 32, 33} {
		for _, depth := range []int{limit - 1, limit, limit + 1} {
			doc := nested(depth)
			err := checkJSON(t, doc, limit, 5)
			switch {
			case depth <= limit && err != nil:
				t.Errorf("limit %d, depth %d: %v", limit, depth, err)
			case depth > limit && !errors.Is(err, ErrJSONDepth):
				t.Errorf("limit %d, depth %d: got %v, want too deep", limit, depth, err)
			}
		}
	}
}

// A document nested a million deep would blow a recursive parser's stack;
// this one keeps a frame per level and stops at the limit.
func TestJSONCheckerVeryDeep(t *testing.T) {
	doc := strings.Repeat("[", 1_000_000)
	err := checkJSON(t, doc, 32, 4096)
	if !errors.Is(err, ErrJSONDepth) {
		t.Fatalf("got %v", err)
	}
	var je *JSONError
	if !errors.As(err, &je) || je.Offset != 32 {
		t.Fatalf("offset: %v", err)
	}
	// Without a limit it is merely malformed (never closed), and still no panic.
	if err := checkJSON(t, doc[:100_000], 0, 65536); !errors.Is(err, ErrJSONSyntax) {
		t.Fatalf("no limit: %v", err)
	}
}

func TestJSONCheckerStrings(t *testing.T) {
	var got []string
	var where []string
	c := &JSONChecker{}
	c.OnString = func(v []byte) error {
		got = append(got, string(v))
		where = append(where, c.Pointer())
		return nil
	}
	doc := `{"name":"O\u0027Brien","tags":["a\"b","\ud83d\ude00"],"n":{"deep":[{"x":"<\/script>"}]},"bad key!":"v","num":1}`
	for i := 0; i < len(doc); i++ {
		if _, err := c.Write([]byte{doc[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"O'Brien", `a"b`, "😀", "</script>", "v"}
	wantWhere := []string{"/name", "/tags/0", "/tags/1", "/n/deep/0/x", "/~key"}
	if strings.Join(got, "|") != strings.Join(want, "|") || strings.Join(where, "|") != strings.Join(wantWhere, "|") {
		t.Fatalf("got %q at %q", got, where)
	}
}

func TestJSONCheckerLongStringWindows(t *testing.T) {
	long := strings.Repeat("x", 100_000) + "<script>alert(1)</script>"
	var calls, maxLen int
	sawTail := false
	c := &JSONChecker{OnString: func(v []byte) error {
		calls++
		maxLen = max(maxLen, len(v))
		sawTail = sawTail || strings.Contains(string(v), "<script>alert(1)</script>")
		return nil
	}}
	if err := checkJSONWith(c, `{"a":"`+long+`"}`, 1000); err != nil {
		t.Fatal(err)
	}
	if maxLen > DefaultStringWindow || calls < 2 || !sawTail {
		t.Fatalf("calls %d, longest window %d, saw the end %v", calls, maxLen, sawTail)
	}
}

func checkJSONWith(c *JSONChecker, doc string, piece int) error {
	for i := 0; i < len(doc); i += piece {
		if _, err := c.Write([]byte(doc[i:min(i+piece, len(doc))])); err != nil {
			return err
		}
	}
	return c.Close()
}

func TestJSONCheckerReuse(t *testing.T) {
	c := &JSONChecker{MaxDepth: 3}
	if err := checkJSONWith(c, `[[[[1]]]]`, 3); err == nil {
		t.Fatal("too deep passed")
	}
	c.Reset()
	if err := checkJSONWith(c, `[[1]]`, 3); err != nil {
		t.Fatal(err)
	}
}

// FuzzJSONChecker: the checker (no depth limit, any split) agrees with
// encoding/json on what is valid JSON, and never panics.
func TestJSONCheckerUTF8(t *testing.T) {
	for doc, bad := range map[string]bool{
		`{"name":"café","emoji":"😀"}`: false,
		"{\"q\":\"\xc0\xa7 OR 1=1\"}": true,  // an overlong quote
		"{\"q\":\"caf\xe9\"}":         true,  // Latin-1
		"{\"q\":\"\xc3\"}":            true,  // cut by the closing quote
		"{\"q\":\"\xc3\\n\"}":         true,  // cut by an escape
		"{\"\xff\":1}":                true,  // in a key
		"{\"q\":\"\xed\xa0\x80\"}":    true,  // a surrogate
		`{"q":"\ud800"}`:              false, // escapes are decoded, not bytes
	} {
		for _, piece := range []int{1, 2, len(doc)} {
			err := checkJSON(t, doc, 0, piece)
			if got := errors.Is(err, ErrMalformedUTF8); got != bad || (!bad && err != nil) {
				t.Errorf("%q (pieces of %d): %v", doc, piece, err)
			}
		}
	}
}

func FuzzJSONChecker(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":"\u00e9"}]}`, `[1,]`, `"\ud800"`, `-0.5e-3`, `{"a":1}}`, `01`, "\"\x00\"", `[[[[`, ` null `} {
		f.Add([]byte(s), uint8(3))
	}
	for _, s := range []string{"\"caf\xc3\xa9\"", "[\"\xc0\xa7\"]", "{\"\xff\":1}", "\"\xe2\x82\""} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, doc []byte, split uint8) {
		c := &JSONChecker{}
		c.OnString = func([]byte) error {
			// The strict paths' _method check reads the top-level key.
			if key, ok := c.TopLevelKey(); ok && (c.Depth() != 1 || len(key) > maxKeyLen) {
				t.Fatalf("%q: top-level key %q at depth %d", doc, key, c.Depth())
			}
			return nil
		}
		piece := int(split)%16 + 1
		var err error
		for i := 0; i < len(doc) && err == nil; i += piece {
			_, err = c.Write(doc[i:min(i+piece, len(doc))])
		}
		if err == nil {
			err = c.Close()
		}
		// encoding/json takes malformed UTF-8 in strings; RFC 8259 and the
		// checker do not.
		if want := json.Valid(doc) && utf8.Valid(doc); want != (err == nil) {
			t.Fatalf("%q: checker says %v, encoding/json says valid=%v", doc, err, want)
		}
		_ = c.Pointer()
	})
}

const benchDoc1K = `{"order":{"id":"ord_1042","customer":{"name":"Mary O'Connor","email":"mary@example.com","address":{"street":"12 Baker Street","city":"London","zip":"NW1 6XE"}},"items":[{"sku":"A-100","name":"Blue mug","qty":2,"price":12.5},{"sku":"B-220","name":"Tea (earl grey)","qty":1,"price":8.25},{"sku":"C-310","name":"Spoon set","qty":1,"price":15}],"notes":"Please leave it at the door; ring twice if nobody answers.","gift":false,"coupon":null,"tags":["priority","gift-wrap","eu"]},"meta":{"client":"web","version":"2.4.1","ts":"2026-01-02T03:04:05Z","trace":"550e8400-e29b-41d4-a716-446655440000"},"history":[{"at":"2026-01-01T10:00:00Z","status":"created"},{"at":"2026-01-01T10:05:00Z","status":"paid"},{"at":"2026-01-02T08:00:00Z","status":"packed"}],"comment":"Deliver between 9 and 5, not on weekends & holidays.","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`

func BenchmarkJSONCheck1K(b *testing.B) {
	doc := []byte(benchDoc1K)
	c := &JSONChecker{MaxDepth: 32}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		c.Write(doc) //nolint:errcheck
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
