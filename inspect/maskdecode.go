package inspect

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/zstd"
)

// finishDecoding decodes a small compressed body held whole: a body that does
// not decode is refused, a small one is masked whole with its length, a
// large one streams.
func (w *maskResponseWriter) finishDecoding() error {
	w.buffering = false
	rd, release, err := decodeReader(w.codings, bytes.NewReader(w.buf))
	if err != nil {
		w.refuse(unmaskableEncoding)
		return nil
	}
	defer release()
	plain, err := io.ReadAll(io.LimitReader(rd, maskBufferLimit+1))
	if err != nil {
		w.refuse(unmaskableEncoding)
		return nil
	}
	if len(plain) <= maskBufferLimit {
		out := w.in.masker.Mask(plain)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.sentHeader = true
		w.ResponseWriter.WriteHeader(w.status)
		_, err := w.ResponseWriter.Write(out)
		return err
	}
	w.sendHeader()
	if _, err := w.mw.Write(plain); err != nil {
		return err
	}
	if _, err := io.Copy(w.mw, rd); err != nil {
		return fmt.Errorf("decoding the upstream's answer: %w", err)
	}
	return w.mw.Close()
}

// decodeReader returns a reader of the body r decoded from the content
// codings listed (in the order they were applied), and a function that
// releases it.
func decodeReader(codings []string, r io.Reader) (io.Reader, func(), error) {
	var releases []func()
	release := func() {
		for _, f := range releases {
			f()
		}
	}
	for i := len(codings) - 1; i >= 0; i-- {
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if errors.Is(err, io.EOF) {
				return bytes.NewReader(nil), release, nil // an empty body
			}
			if err != nil {
				release()
				return nil, nil, err
			}
			r = zr
		case "deflate":
			r = deflateReader(r)
		case "zstd":
			// RFC 9659: a decoder need not accept windows over 8 MiB.
			zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(8<<20))
			if err != nil {
				release()
				return nil, nil, err
			}
			releases = append(releases, zr.Close)
			r = zr
		}
	}
	return r, release, nil
}

// deflateReader reads "deflate": the zlib format (RFC 9110), or the bare
// deflate data some servers send instead.
func deflateReader(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil {
		if len(head) == 0 && errors.Is(err, io.EOF) {
			return bytes.NewReader(nil) // an empty body
		}
		return flate.NewReader(br)
	}
	if head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		if zr, err := zlib.NewReader(br); err == nil {
			return zr
		}
	}
	return flate.NewReader(br)
}

// bodyDecoder decodes a compressed body as it streams, on a goroutine that
// runs in lock step with the handler: Write hands a chunk over and returns
// only once the goroutine has decoded and written out all it could and waits
// for more (or has ended), so the client's writer is never used by both at
// once and a flush between writes sees everything decoded so far.
type bodyDecoder struct {
	ctx  context.Context
	in   chan []byte   // compressed chunks; closed at the end of the body
	ack  chan struct{} // the goroutine took a chunk whole and waits for more
	done chan struct{} // the goroutine ended; err is set
	err  error

	cur   []byte // the goroutine's: the chunk it reads
	began bool
}

func startDecoder(ctx context.Context, codings []string, out io.Writer) *bodyDecoder {
	d := &bodyDecoder{ctx: ctx, in: make(chan []byte), ack: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run(codings, out)
	return d
}

func (d *bodyDecoder) run(codings []string, out io.Writer) {
	defer close(d.done)
	rd, release, err := decodeReader(codings, (*decoderSource)(d))
	if err != nil {
		d.err = err
		return
	}
	defer release()
	buf := make([]byte, 16<<10)
	for {
		n, rerr := rd.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				d.err = werr
				return
			}
		}
		if errors.Is(rerr, io.EOF) {
			return
		}
		if rerr != nil {
			d.err = rerr
			return
		}
	}
}

// Write hands p to the goroutine and waits until it has used it. Once the
// decoding has ended (the compressed data ended, or did not decode), what
// follows is dropped: finish reports the error.
func (d *bodyDecoder) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	select {
	case d.in <- p:
	case <-d.done:
		return len(p), nil
	}
	select {
	case <-d.ack:
	case <-d.done:
	}
	return len(p), nil
}

// failed returns the error the decoding ended with, if it ended.
func (d *bodyDecoder) failed() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Close ends the input and waits for the goroutine.
func (d *bodyDecoder) Close() error {
	close(d.in)
	<-d.done
	return d.err
}

// decoderSource is the goroutine's side of a bodyDecoder: the compressed
// body as a reader.
type decoderSource bodyDecoder

func (s *decoderSource) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.began {
			select {
			case s.ack <- struct{}{}:
			default: // an ack is pending already: the input has ended
			}
		}
		s.began = true
		select {
		case c, ok := <-s.in:
			if !ok {
				return 0, io.EOF
			}
			s.cur = c
		case <-s.ctx.Done():
			// The request ended without finish (a handler panicked).
			return 0, s.ctx.Err()
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}
