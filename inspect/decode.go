package inspect

import (
	"bufio"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Coding is the content coding of a request body, as its Content-Encoding
// names it.
type Coding uint8

const (
	// CodingIdentity is a body sent as it is.
	CodingIdentity Coding = iota
	// CodingGzip is gzip (RFC 1952), also named x-gzip.
	CodingGzip
	// CodingDeflate is HTTP's deflate: a zlib stream (RFC 1950).
	CodingDeflate
	// CodingUnsupported is any other coding, or more than one.
	CodingUnsupported
)

// ParseContentEncoding reads the Content-Encoding header lines of a request.
// "identity" and empty entries are ignored; one gzip or deflate is read;
// anything else, more than one coding included, is CodingUnsupported.
func ParseContentEncoding(values []string) Coding {
	c := CodingIdentity
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = strings.Trim(tok, " \t")
			var next Coding
			switch {
			case tok == "" || strings.EqualFold(tok, "identity"):
				continue
			case strings.EqualFold(tok, "gzip") || strings.EqualFold(tok, "x-gzip"):
				next = CodingGzip
			case strings.EqualFold(tok, "deflate"):
				next = CodingDeflate
			default:
				return CodingUnsupported
			}
			if c != CodingIdentity {
				return CodingUnsupported
			}
			c = next
		}
	}
	return c
}

// Body read errors.
var (
	// ErrBodyTooLarge is a body whose bytes, as sent or as decoded, passed
	// the limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBodyEncoding is a body that does not decode in its coding.
	ErrBodyEncoding = errors.New("request body does not decode")
)

// BodyReader reads a request body for checking: it decodes gzip and deflate
// and counts both the bytes as sent and the bytes as decoded against one
// limit, so a small compressed body cannot unpack into more than the limit
// (a decompression bomb stops at the limit). Errors of the underlying body
// are returned as they are; a body that does not decode gives an error
// wrapping ErrBodyEncoding, one past the limit ErrBodyTooLarge.
//
// A BodyReader is not safe for concurrent use. Close returns it and its
// decoder to a pool (it must not be used after), and does not close the
// underlying body.
type BodyReader struct {
	raw     countingReader
	buf     *bufio.Reader // over raw, for the decoders
	src     io.Reader
	gz      *gzip.Reader
	zl      io.ReadCloser
	decoded int64
	limit   int64
	err     error
}

// countingReader counts what it reads and stops past a limit, keeping the
// error of the reader under it.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	err   error // the underlying reader's error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		c.err = ErrBodyTooLarge
		return 0, c.err
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

var (
	bodyReaders sync.Pool // *BodyReader
	bufReaders  sync.Pool // *bufio.Reader
	gzipReaders sync.Pool // *gzip.Reader
	zlibReaders sync.Pool // io.ReadCloser that is a zlib.Resetter
)

// NewBodyReader reads body in coding c, up to limit bytes sent and decoded.
// It reads the coding's header at once: a body that does not start like its
// coding gives an error wrapping ErrBodyEncoding, and an error of the body
// itself is returned as it is. c must not be CodingUnsupported.
func NewBodyReader(body io.Reader, c Coding, limit int64) (*BodyReader, error) {
	if c != CodingIdentity && c != CodingGzip && c != CodingDeflate {
		return nil, fmt.Errorf("%w: unsupported coding", ErrBodyEncoding)
	}
	b, _ := bodyReaders.Get().(*BodyReader)
	if b == nil {
		b = new(BodyReader)
	}
	*b = BodyReader{raw: countingReader{r: body, limit: limit}, limit: limit}
	if c == CodingIdentity {
		b.src = &b.raw
		return b, nil
	}
	// The decoders read through a buffer of ours, which tells whether
	// bytes follow the end of the stream.
	if br, ok := bufReaders.Get().(*bufio.Reader); ok {
		br.Reset(&b.raw)
		b.buf = br
	} else {
		b.buf = bufio.NewReaderSize(&b.raw, 4096)
	}
	var err error
	if c == CodingGzip {
		if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
			err = zr.Reset(b.buf)
			b.gz = zr
		} else {
			b.gz, err = gzip.NewReader(b.buf)
		}
		b.src = b.gz
	} else {
		if zr, ok := zlibReaders.Get().(io.ReadCloser); ok {
			err = zr.(zlib.Resetter).Reset(b.buf, nil)
			b.zl = zr
		} else {
			b.zl, err = zlib.NewReader(b.buf)
		}
		b.src = b.zl
	}
	if err == io.EOF {
		// An empty body is no stream of its coding.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		err = b.wrap(err)
		b.Close() //nolint:errcheck
		return nil, err
	}
	return b, nil
}

// wrap tells an error of the body from one of its decoding.
func (b *BodyReader) wrap(err error) error {
	switch {
	case b.raw.err != nil:
		return b.raw.err
	case err == io.EOF:
		return io.EOF
	}
	return fmt.Errorf("%w: %v", ErrBodyEncoding, err)
}

// Read reads decoded bytes.
func (b *BodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	b.decoded += int64(n)
	if b.decoded > b.limit {
		b.err = ErrBodyTooLarge
		return 0, b.err
	}
	if err == io.EOF && b.zl != nil {
		// A zlib stream ends by itself: bytes after it are no part of
		// the body that was checked.
		if _, perr := b.buf.ReadByte(); perr == nil {
			err = errors.New("data after the end of the stream")
		}
	}
	if err != nil {
		b.err = b.wrap(err)
		return n, b.err
	}
	return n, nil
}

// Sent returns how many bytes of the body were read as sent.
func (b *BodyReader) Sent() int64 { return b.raw.n }

// Decoded returns how many decoded bytes were read.
func (b *BodyReader) Decoded() int64 { return b.decoded }

// Close returns the reader and its decoder to their pools. It does not
// close the body.
func (b *BodyReader) Close() error {
	if b.gz != nil {
		gzipReaders.Put(b.gz)
		b.gz = nil
	}
	if b.zl != nil {
		zlibReaders.Put(b.zl)
		b.zl = nil
	}
	if b.buf != nil {
		b.buf.Reset(nil)
		bufReaders.Put(b.buf)
		b.buf = nil
	}
	*b = BodyReader{}
	bodyReaders.Put(b)
	return nil
}
