package inspect

// FormScanner reads an application/x-www-form-urlencoded body fed to it in
// pieces and hands each value, decoded, to OnValue with its field name. It
// keeps at most a window of one value (values longer than StringWindow are
// handed over in overlapping windows) and the first 64 bytes of its name.
// Malformed escapes are kept as they are, as lenient servers do. With
// RequireUTF8, a name or value that does not decode to well-formed UTF-8
// stops the scan with ErrMalformedUTF8.
//
// A FormScanner is not safe for concurrent use.
type FormScanner struct {
	// OnValue receives the field name (possibly truncated) and value; a
	// non-nil error stops the scan and is returned by Write or Close. The slices
	// are valid only during the call.
	OnValue func(name, value []byte) error
	// StringWindow overrides DefaultStringWindow.
	StringWindow int
	// RequireUTF8 refuses names and values that are not well-formed UTF-8
	// once decoded.
	RequireUTF8 bool

	utf8    utf8Stream
	inValue bool
	name    []byte
	val     []byte
	esc     []byte // a pending escape: "%" or "%X"
	err     error
}

// Write feeds the next piece of the body.
func (f *FormScanner) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	for _, b := range p {
		if len(f.esc) > 0 {
			if _, ok := hexVal(b); ok {
				f.esc = append(f.esc, b)
				if len(f.esc) == 3 {
					h, _ := hexVal(f.esc[1])
					l, _ := hexVal(f.esc[2])
					f.esc = f.esc[:0]
					f.add(h<<4 | l)
				}
				continue
			}
			// Not an escape after all: keep it as it is, and read b afresh.
			pending := f.esc
			f.esc = f.esc[:0]
			f.addRaw(pending)
		}
		switch b {
		case '&':
			f.endField()
		case '=':
			if !f.inValue {
				if f.RequireUTF8 && !f.utf8.complete() {
					f.err = ErrMalformedUTF8
					return 0, f.err
				}
				f.inValue = true
				continue
			}
			f.add(b)
		case '%':
			f.esc = append(f.esc, b)
		case '+':
			f.add(' ')
		default:
			f.add(b)
		}
		if f.err != nil {
			return 0, f.err
		}
	}
	return len(p), f.err
}

// Close ends the body and scans its last field.
func (f *FormScanner) Close() error {
	if f.err != nil {
		return f.err
	}
	if len(f.esc) > 0 {
		f.addRaw(f.esc)
		f.esc = f.esc[:0]
	}
	f.endField()
	return f.err
}

func (f *FormScanner) window() int {
	if f.StringWindow > StringOverlap {
		return f.StringWindow
	}
	return DefaultStringWindow
}

func (f *FormScanner) addRaw(bs []byte) {
	for _, b := range bs {
		f.add(b)
	}
}

func (f *FormScanner) add(b byte) {
	if f.RequireUTF8 && !f.utf8.step(b) {
		if f.err == nil {
			f.err = ErrMalformedUTF8
		}
		return
	}
	if !f.inValue {
		if len(f.name) < maxKeyLen+1 {
			f.name = append(f.name, b)
		}
		return
	}
	f.val = append(f.val, b)
	if len(f.val) >= f.window() {
		f.emit()
		keep := f.val[len(f.val)-StringOverlap:]
		f.val = append(f.val[:0], keep...)
	}
}

func (f *FormScanner) emit() {
	if f.err != nil || f.OnValue == nil {
		return
	}
	f.err = f.OnValue(f.name, f.val)
}

func (f *FormScanner) endField() {
	if len(f.esc) > 0 {
		f.addRaw(f.esc)
		f.esc = f.esc[:0]
	}
	if f.RequireUTF8 && !f.utf8.complete() && f.err == nil {
		f.err = ErrMalformedUTF8
	}
	if len(f.name) > 0 || len(f.val) > 0 {
		f.emit()
	}
	f.utf8.reset()
	f.inValue = false
	f.name, f.val = f.name[:0], f.val[:0]
}
