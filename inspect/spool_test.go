package inspect

import (
	"bytes"
	"io"
	"testing"
)

func TestSpool(t *testing.T) {
	for _, size := range []int{0, 10, 100, 101, 5000} {
		s := NewSpool(nil, 100, t.TempDir())
		data := bytes.Repeat([]byte("0123456789"), size/10+1)[:size]
		for i := 0; i < len(data); i += 7 {
			if _, err := s.Write(data[i:min(i+7, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if s.InMemory() != (size <= 100) || s.Size() != int64(size) {
			t.Fatalf("size %d: in memory %v, size %d", size, s.InMemory(), s.Size())
		}
		if !bytes.Equal(s.Head(15), data[:min(15, size)]) {
			t.Fatalf("size %d: head %q", size, s.Head(15))
		}
		r, err := s.Reader()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes", size, len(got))
		}
		if _, err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
