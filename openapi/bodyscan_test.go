package openapi

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// plainRun must stop at the first byte that is not plain wherever it sits
// in a word, and never before it.
func TestPlainRun(t *testing.T) {
	specials := []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff, 0xc3}
	plains := []byte{' ', '!', '#', '[', ']', '~', 0x7f, 'a', '0', 0x21}
	for n := 0; n <= 24; n++ {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				d := []byte(strings.Repeat("a", n))
				want := n
				if at < n {
					d[at], want = sp, at
				}
				for from := 0; from <= at && from <= n; from++ {
					if got := plainRun(d, from); got != want {
						t.Fatalf("plainRun(%q, %d) = %d, want %d", d, from, got, want)
					}
				}
			}
		}
	}
	// Plain bytes next to the tests' thresholds never stop it.
	d := []byte(strings.Repeat(string(plains), 5))
	if got := plainRun(d, 0); got != len(d) {
		t.Fatalf("plainRun stopped at %d on plain bytes %q", got, d)
	}
}

func TestParseNumber(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "7", "-7", "42", "999999999999999", "-999999999999999", "1000000000000000",
		"12345678901234567890", "1.5", "-0.25", "1e3", "1E-3", "2.5e+10", "0.1", "9007199254740993",
	} {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		got := parseNumber([]byte(s))
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("parseNumber(%s) = %v, want %v", s, got, want)
		}
	}
}

// The tape of a body: every value and key in document order, each
// container's next past all it holds, strings flagged.
func TestScanTape(t *testing.T) {
	body := []byte(` {"a":[1,{"b":"x\"y"}],"é":null,"c":true} `)
	verdict, tape := scanJSON(body, nil)
	if verdict != scanOK {
		t.Fatalf("verdict %v", verdict)
	}
	type tok struct {
		text  string
		next  int32
		kind  typeSet
		flags uint8
	}
	want := []tok{
		{`{"a":[1,{"b":"x\"y"}],"é":null,"c":true}`, 11, typeObject, 0},
		{`"a"`, 2, typeString, 0},
		{`[1,{"b":"x\"y"}]`, 7, typeArray, 0},
		{`1`, 4, typeNumber, 0},
		{`{"b":"x\"y"}`, 7, typeObject, 0},
		{`"b"`, 6, typeString, 0},
		{`"x\"y"`, 7, typeString, strEscaped},
		{`"é"`, 8, typeString, strNonASCII},
		{`null`, 9, typeNull, 0},
		{`"c"`, 10, typeString, 0},
		{`true`, 11, typeBoolean, 0},
	}
	if len(tape) != len(want) {
		t.Fatalf("tape has %d tokens, want %d: %+v", len(tape), len(want), tape)
	}
	for i, w := range want {
		got := tape[i]
		text := string(body[got.start:got.end])
		if text != w.text || got.next != w.next || got.kind != w.kind || got.flags != w.flags {
			t.Errorf("token %d = %q next %d kind %d flags %d, want %+v", i, text, got.next, got.kind, got.flags, w)
		}
	}
	var many []string // more keys than dupScanLimit: found through a map
	for i := 0; i < 2*dupScanLimit; i++ {
		many = append(many, `"k`+strconv.Itoa(i)+`":[`+strconv.Itoa(i)+`]`)
	}
	distinct := "{" + strings.Join(many, ",") + "}"
	if v, _ := scanJSON([]byte(distinct), nil); v != scanOK {
		t.Errorf("%d distinct keys: verdict %v, want ok", len(many), v)
	}
	late := "{" + strings.Join(many, ",") + `,"k5":0}`
	early := "{" + strings.Join(many[:10], ",") + `,"k3":0,` + strings.Join(many[10:], ",") + "}"
	for _, dup := range []string{`{"a":1,"a":2}`, `{"a":{"x":1},"b":[],"a":3}`, `{"k\u0061":1}`, late, early} {
		if v, _ := scanJSON([]byte(dup), nil); v != scanUndecided {
			t.Errorf("%s: verdict %v, want undecided", dup, v)
		}
	}
}
