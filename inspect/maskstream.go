package inspect

import "io"

// MaskWriter masks a stream on its way to W. It writes out everything that
// can no longer be part of a match at once, and holds back only the bytes at
// the end of what it was given that a match may still grow from (a number, a
// word, an escape not yet complete), at most MaxMatch of them, so it keeps a
// stream flowing. Close writes what is held back.
type MaskWriter struct {
	m     *Masker
	w     io.Writer
	tail  []byte
	out   []byte
	spans []span
	text  []byte // the view of an escaped buffer
	pos   []int
	prev  byte // the last byte of the view written out
}

// NewWriter returns a MaskWriter writing to w.
func (m *Masker) NewWriter(w io.Writer) *MaskWriter {
	return &MaskWriter{m: m, w: w}
}

// Reset makes the writer ready for a new stream to w.
func (mw *MaskWriter) Reset(w io.Writer) {
	mw.w, mw.tail, mw.prev = w, mw.tail[:0], 0
}

// Held returns how many bytes the writer holds back.
func (mw *MaskWriter) Held() int { return len(mw.tail) }

// Write masks and writes what it can of p, holding back the rest.
func (mw *MaskWriter) Write(p []byte) (int, error) {
	buf := p
	if len(mw.tail) > 0 {
		mw.tail = append(mw.tail, p...)
		buf = mw.tail
	}
	if err := mw.process(buf, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is held back. It does not close W.
func (mw *MaskWriter) Close() error {
	if len(mw.tail) == 0 {
		return nil
	}
	return mw.process(mw.tail, true)
}

// process masks buf and writes out what can no longer change. It works in
// view offsets (buf with its escapes decoded), so it never cuts through an
// escape, and bounds what it holds back in bytes of buf.
func (mw *MaskWriter) process(buf []byte, final bool) error {
	m := mw.m
	text, pos := buf, []int(nil)
	if hasEscapes(buf, final) {
		mw.text, mw.pos = unescape(mw.text[:0], mw.pos[:0], buf, final)
		text, pos = mw.text, mw.pos
	}
	cut := len(text)
	if !final {
		for cut > 0 && len(buf)-rawAt(pos, cut-1) <= MaxMatch && m.soft(text[cut-1]) {
			cut--
		}
	}
	mw.spans = m.find(text, mw.prev, mw.spans)
	if !final {
		for i := len(mw.spans) - 1; i >= 0; i-- {
			s := mw.spans[i]
			if s.start < cut && s.end >= cut {
				if len(buf)-rawAt(pos, s.start) > maxHold {
					cut = s.end // a custom match that keeps growing: let it go
					break
				}
				cut = s.start
			}
		}
	}
	var err error
	if cut > 0 {
		mw.out = m.apply(mw.out[:0], buf, text, pos, mw.spans, cut)
		_, err = mw.w.Write(mw.out)
		mw.prev = text[cut-1]
	}
	// Keep the rest. buf may be mw.tail itself: copy down.
	rest := buf[rawAt(pos, cut):]
	if len(mw.tail) > 0 && &buf[0] == &mw.tail[0] {
		mw.tail = mw.tail[:copy(mw.tail, rest)]
	} else {
		mw.tail = append(mw.tail[:0], rest...)
	}
	if final {
		mw.tail = mw.tail[:0]
	}
	return err
}
