package inspect

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func mustMasker(t testing.TB, cfg MaskConfig) *Masker {
	t.Helper()
	m, err := NewMasker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var fullMask = MaskConfig{Card: true, Email: true, Regex: []MaskRule{{Name: "ssn", Pattern: `\b\d{3}-\d{2}-\d{4}\b`}}}

func TestMaskOneShot(t *testing.T) {
	m := mustMasker(t, fullMask)
	cases := map[string]string{
		`{"card":"4111111111111111"}`:                   `{"card":"************1111"}`,
		`{"card":"4111 1111 1111 1111"}`:                `{"card":"**** **** **** 1111"}`,
		`{"card":"4111-1111-1111-1111"}`:                `{"card":"****-****-****-1111"}`,
		`amex 378282246310005 ok`:                       `amex ***********0005 ok`,
		`mc 5555555555554444, visa 4012888888881881.`:   `mc ************4444, visa ************1881.`,
		`qty 3 4111 1111 1111 1111`:                     `qty 3 **** **** **** 1111`,
		`not luhn 4111111111111112`:                     `not luhn 4111111111111112`,
		`timestamp 1700000000000 ms`:                    `timestamp 1700000000000 ms`,
		`id abc4111111111111111 x`:                      `id abc4111111111111111 x`,
		`20 digits 41111111111111111110`:                `20 digits 41111111111111111110`,
		`short 4111111`:                                 `short 4111111`,
		`{"email":"mary.o'connor@example.com"}`:         `{"email":"mary.o'***@example.com"}`,
		`{"email":"mary@example.com"}`:                  `{"email":"***@example.com"}`,
		`write to a.b+tag@mail.example.co.uk.`:          `write to ***@mail.example.co.uk.`,
		`not an email: a@b, x@localhost, @example.com`:  `not an email: a@b, x@localhost, @example.com`,
		`ssn 123-45-6789 here`:                          `ssn [redacted:ssn] here`,
		`plain text with nothing to hide`:               `plain text with nothing to hide`,
		`{"n":4111111111111111}`:                        `{"n":************1111}`,
		"line1 4111111111111111\nline2 bob@example.org": "line1 ************1111\nline2 ***@example.org",
	}
	for in, want := range cases {
		if got := string(m.Mask([]byte(in))); got != want {
			t.Errorf("%s:\n got %s\nwant %s", in, got, want)
		}
	}
}

func TestNewMaskerRejects(t *testing.T) {
	for _, cfg := range []MaskConfig{
		{Regex: []MaskRule{{Name: "x", Pattern: "("}}},
		{Regex: []MaskRule{{Name: "bad name!", Pattern: "x"}}},
		{Regex: []MaskRule{{Name: "empty", Pattern: "a*"}}},
	} {
		if _, err := NewMasker(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// streamMask writes in through a MaskWriter in the given piece sizes.
func streamMask(m *Masker, in []byte, sizes func() int) (string, int) {
	var out bytes.Buffer
	w := m.NewWriter(&out)
	maxHeld := 0
	for i := 0; i < len(in); {
		n := min(sizes(), len(in)-i)
		w.Write(in[i : i+n]) //nolint:errcheck
		maxHeld = max(maxHeld, w.Held())
		i += n
	}
	w.Close() //nolint:errcheck
	return out.String(), maxHeld
}

// Every split point of a document with matches gives the one-shot result.
func TestMaskAcrossBoundaries(t *testing.T) {
	m := mustMasker(t, fullMask)
	m2 := mustMasker(t, MaskConfig{Card: true, Email: true})
	doc := []byte(`{"a":"4111 1111 1111 1111","b":"mary@example.com","c":"x 5555555555554444 y","ssn":"123-45-6789","d":"q 3 4012888888881881"}`)
	for _, mk := range []*Masker{m, m2} {
		want := string(mk.Mask(bytes.Clone(doc)))
		for cut := 0; cut <= len(doc); cut++ {
			var out bytes.Buffer
			w := mk.NewWriter(&out)
			w.Write(doc[:cut]) //nolint:errcheck
			w.Write(doc[cut:]) //nolint:errcheck
			w.Close()          //nolint:errcheck
			if out.String() != want {
				t.Fatalf("split at %d:\n got %s\nwant %s", cut, out.String(), want)
			}
		}
		for _, size := range []int{1, 2, 3, 7, 16} {
			got, _ := streamMask(mk, doc, func() int { return size })
			if got != want {
				t.Fatalf("pieces of %d:\n got %s\nwant %s", size, got, want)
			}
		}
	}
}

// A large response streamed in random pieces: every card and address masked,
// nothing else changed, and the writer holds back at most MaxMatch bytes.
func TestMaskLargeStream(t *testing.T) {
	m := mustMasker(t, MaskConfig{Card: true, Email: true})
	var in, want strings.Builder
	in.WriteString("[")
	want.WriteString("[")
	for i := range 20000 {
		rec := `{"id":` + itoa(i) + `,"card":"4111 1111 1111 1111","email":"user` + itoa(i) + `@example.com","note":"order 1700000000000 ok"},`
		in.WriteString(rec)
		want.WriteString(`{"id":` + itoa(i) + `,"card":"**** **** **** 1111","email":"***@example.com","note":"order 1700000000000 ok"},`)
	}
	in.WriteString("0]")
	want.WriteString("0]")
	rng := rand.New(rand.NewPCG(1, 2))
	got, held := streamMask(m, []byte(in.String()), func() int { return 1 + rng.IntN(40000) })
	if got != want.String() {
		t.Fatalf("stream differs (lengths %d, %d)", len(got), want.Len())
	}
	if held > MaxMatch {
		t.Fatalf("held back %d bytes", held)
	}
	// Long runs with no break are cut at MaxMatch.
	long := bytes.Repeat([]byte("a"), 1<<20)
	got, held = streamMask(m, long, func() int { return 32 << 10 })
	if got != string(long) || held > MaxMatch {
		t.Fatalf("long run: held %d", held)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzMasker: streaming in any two pieces equals masking at once; masking is
// idempotent on its own output for cards and e-mail; it never panics.
func FuzzMasker(f *testing.F) {
	for _, s := range []string{`{"c":"4111 1111 1111 1111"}`, "a@b.co", "x 378282246310005 y", "123-45-6789", "@@..--  4", "5555555555554444@x.io"} {
		f.Add([]byte(s), uint16(3))
	}
	m := mustMasker(f, fullMask)
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		want := string(m.Mask(bytes.Clone(in)))
		c := int(cut) % (len(in) + 1)
		var out bytes.Buffer
		w := m.NewWriter(&out)
		w.Write(in[:c]) //nolint:errcheck
		w.Write(in[c:]) //nolint:errcheck
		w.Close()       //nolint:errcheck
		if out.String() != want {
			t.Fatalf("%q split at %d:\n got %q\nwant %q", in, c, out.String(), want)
		}
	})
}

func BenchmarkMaskStream(b *testing.B) {
	m := mustMasker(b, MaskConfig{Card: true, Email: true})
	var doc strings.Builder
	for i := 0; doc.Len() < 1<<20; i++ {
		doc.WriteString(`{"id":"ord_` + itoa(i) + `","customer":"Mary O'Connor","email":"mary@example.com","card":"4111 1111 1111 1111","total":4250,"note":"leave at the door"},`)
	}
	in := []byte(doc.String())
	b.SetBytes(int64(len(in)))
	w := m.NewWriter(discard{})
	for b.Loop() {
		w.Reset(discard{})
		for i := 0; i < len(in); i += 32 << 10 {
			w.Write(in[i:min(i+32<<10, len(in))]) //nolint:errcheck
		}
		w.Close() //nolint:errcheck
	}
}

func BenchmarkMaskStreamNoMatches(b *testing.B) {
	m := mustMasker(b, MaskConfig{Card: true, Email: true})
	in := bytes.Repeat([]byte(`{"id":"ord_1042","status":"shipped","total":{"amount":4250,"currency":"EUR"},"items":3},`), 12000)
	b.SetBytes(int64(len(in)))
	w := m.NewWriter(discard{})
	for b.Loop() {
		w.Reset(discard{})
		for i := 0; i < len(in); i += 32 << 10 {
			w.Write(in[i:min(i+32<<10, len(in))]) //nolint:errcheck
		}
		w.Close() //nolint:errcheck
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
