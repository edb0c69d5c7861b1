package inspect

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func gzipped(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func zlibbed(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestParseContentEncoding(t *testing.T) {
	for _, c := range []struct {
		values []string
		want   Coding
	}{
		{nil, CodingIdentity},
		{[]string{""}, CodingIdentity},
		{[]string{"identity"}, CodingIdentity},
		{[]string{"gzip"}, CodingGzip},
		{[]string{" GZip "}, CodingGzip},
		{[]string{"x-gzip"}, CodingGzip},
		{[]string{"deflate"}, CodingDeflate},
		{[]string{"identity, gzip"}, CodingGzip},
		{[]string{"br"}, CodingUnsupported},
		{[]string{"zstd"}, CodingUnsupported},
		{[]string{"gzip, gzip"}, CodingUnsupported},
		{[]string{"gzip", "deflate"}, CodingUnsupported},
		{[]string{"gzip;q=1"}, CodingUnsupported},
	} {
		if got := ParseContentEncoding(c.values); got != c.want {
			t.Errorf("%q: got %d, want %d", c.values, got, c.want)
		}
	}
}

func readBody(body io.Reader, c Coding, limit int64) (string, error) {
	br, err := NewBodyReader(body, c, limit)
	if err != nil {
		return "", err
	}
	defer br.Close()
	out, err := io.ReadAll(br)
	return string(out), err
}

func TestBodyReader(t *testing.T) {
	doc := `{"q":"' OR '1'='1"}`
	for _, c := range []struct {
		name   string
		body   []byte
		coding Coding
		limit  int64
		want   string
		err    error
	}{
		{"identity", []byte(doc), CodingIdentity, 100, doc, nil},
		{"gzip", gzipped(t, doc), CodingGzip, 100, doc, nil},
		{"deflate", zlibbed(t, doc), CodingDeflate, 100, doc, nil},
		{"two gzip members", append(gzipped(t, "ab"), gzipped(t, "cd")...), CodingGzip, 100, "abcd", nil},
		{"identity over the limit", []byte(doc), CodingIdentity, 5, "", ErrBodyTooLarge},
		{"gzip decodes past the limit", gzipped(t, strings.Repeat("0", 1<<20)), CodingGzip, 1000, "", ErrBodyTooLarge},
		{"deflate decodes past the limit", zlibbed(t, strings.Repeat("0", 1<<20)), CodingDeflate, 1000, "", ErrBodyTooLarge},
		{"not gzip", []byte(doc), CodingGzip, 100, "", ErrBodyEncoding},
		{"empty gzip", nil, CodingGzip, 100, "", ErrBodyEncoding},
		{"empty deflate", nil, CodingDeflate, 100, "", ErrBodyEncoding},
		{"not deflate", []byte(doc), CodingDeflate, 100, "", ErrBodyEncoding},
		{"truncated gzip", gzipped(t, doc)[:20], CodingGzip, 100, "", ErrBodyEncoding},
		{"gzip then garbage", append(gzipped(t, doc), "garbage"...), CodingGzip, 100, "", ErrBodyEncoding},
		{"deflate then garbage", append(zlibbed(t, doc), "garbage"...), CodingDeflate, 100, "", ErrBodyEncoding},
	} {
		got, err := readBody(bytes.NewReader(c.body), c.coding, c.limit)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
	}
	// An error of the body itself comes back as it is, not as a decoding
	// error.
	boom := errors.New("boom")
	body := io.MultiReader(bytes.NewReader(gzipped(t, doc)[:15]), iotest.ErrReader(boom))
	if _, err := readBody(body, CodingGzip, 100); !errors.Is(err, boom) || errors.Is(err, ErrBodyEncoding) {
		t.Errorf("body error: %v", err)
	}
	if _, err := readBody(iotest.ErrReader(boom), CodingGzip, 100); !errors.Is(err, boom) {
		t.Errorf("body error in the header: %v", err)
	}
	// Bytes sent count as well: a gzip stream of many empty members.
	var many []byte
	for range 200 {
		many = append(many, gzipped(t, "")...)
	}
	if _, err := readBody(bytes.NewReader(many), CodingGzip, 1000); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("many empty members: %v", err)
	}
}

// FuzzBodyReader: whatever the bytes and the coding, the reader never
// panics, never hands over more than the limit, and what it hands over is
// what the standard decoder makes of the same bytes.
func FuzzBodyReader(f *testing.F) {
	f.Add(gzipped(f, `{"a":"b"}`), uint8(1), uint16(100))
	f.Add(zlibbed(f, `a=1&b=2`), uint8(2), uint16(100))
	f.Add(gzipped(f, strings.Repeat("x", 5000)), uint8(1), uint16(64))
	f.Add(append(gzipped(f, "a"), 0x1f, 0x8b), uint8(1), uint16(100))
	f.Add([]byte("plain"), uint8(0), uint16(3))
	f.Fuzz(func(t *testing.T, body []byte, coding uint8, limit uint16) {
		c := Coding(coding % 3)
		got, err := readBody(bytes.NewReader(body), c, int64(limit))
		if int64(len(got)) > int64(limit) {
			t.Fatalf("handed over %d bytes past the limit %d", len(got), limit)
		}
		if err != nil {
			if !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, ErrBodyEncoding) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var want []byte
		switch c {
		case CodingIdentity:
			want = body
		case CodingGzip:
			zr, zerr := gzip.NewReader(bytes.NewReader(body))
			if zerr != nil {
				t.Fatalf("decoded what gzip refuses: %v", zerr)
			}
			want, zerr = io.ReadAll(zr)
			if zerr != nil {
				t.Fatalf("decoded what gzip refuses: %v", zerr)
			}
		case CodingDeflate:
			zr, zerr := zlib.NewReader(bytes.NewReader(body))
			if zerr != nil {
				t.Fatalf("decoded what zlib refuses: %v", zerr)
			}
			want, zerr = io.ReadAll(zr)
			if zerr != nil {
				t.Fatalf("decoded what zlib refuses: %v", zerr)
			}
		}
		if !bytes.Equal(want, []byte(got)) {
			t.Fatalf("decoded %q, the standard decoder %q", got, want)
		}
	})
}
