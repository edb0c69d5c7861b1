package inspect

import (
	"bytes"
	"io"
	"os"
)

// Spool holds a request body while it is checked, so the upstream sees it
// only once it passed: in memory up to a bound, in a temporary file beyond it
// (removed by Close), so a large body never sits in memory whole.
//
// A Spool is not safe for concurrent use.
type Spool struct {
	// MemLimit is how many bytes stay in memory before the spool moves to a
	// file.
	MemLimit int
	// Dir is where temporary files go; empty means os.TempDir().
	Dir string

	mem  []byte
	file *os.File
	size int64
}

// NewSpool returns a spool that keeps up to memLimit bytes in buf's storage.
func NewSpool(buf []byte, memLimit int, dir string) *Spool {
	return &Spool{MemLimit: memLimit, Dir: dir, mem: buf[:0]}
}

// Size returns how many bytes were written.
func (s *Spool) Size() int64 { return s.size }

// InMemory reports whether the spool has not moved to a file.
func (s *Spool) InMemory() bool { return s.file == nil }

// Bytes returns the body when it is in memory.
func (s *Spool) Bytes() []byte { return s.mem }

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	if s.file == nil && len(s.mem)+len(p) <= s.MemLimit {
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.Dir, "apigate-body-*")
		if err != nil {
			return 0, err
		}
		// Unlinked at once where the system allows it: nothing is left behind
		// even if the process dies.
		_ = os.Remove(f.Name())
		s.file = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, err
		}
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	return n, err
}

// Reader returns a reader of the whole body, from its start.
func (s *Spool) Reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(s.file, s.size), nil
}

// Close releases the temporary file, if any, and returns the memory buffer
// for reuse.
func (s *Spool) Close() ([]byte, error) {
	var err error
	if s.file != nil {
		err = s.file.Close()
		s.file = nil
	}
	return s.mem[:0], err
}

// Head returns up to n bytes from the start of the body.
func (s *Spool) Head(n int) []byte {
	if s.file == nil {
		return s.mem[:min(n, len(s.mem))]
	}
	buf := make([]byte, min(int64(n), s.size))
	k, _ := s.file.ReadAt(buf, 0)
	return buf[:k]
}
