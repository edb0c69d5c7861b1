package inspect

import "errors"

// ErrMalformedUTF8 is text that is not well-formed UTF-8: a stray or missing
// continuation byte, an overlong form (C0 AE for '.'), a surrogate or a code
// point past U+10FFFF. Lenient decoders turn such bytes into characters the
// scanner never saw (an overlong quote becomes a quote), so checked text must
// be well-formed.
var ErrMalformedUTF8 = errors.New("malformed UTF-8")

// utf8Stream checks UTF-8 fed to it one byte at a time, across any split,
// after the well-formed byte sequences of Unicode's table 3-7. The zero value
// is at a character boundary.
type utf8Stream struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // the range of the next continuation byte
}

// step reads one byte and reports whether the text is still well-formed.
func (u *utf8Stream) step(b byte) bool {
	if u.need > 0 {
		if b < u.lo || b > u.hi {
			return false
		}
		u.need--
		u.lo, u.hi = 0x80, 0xBF
		return true
	}
	switch {
	case b < 0x80:
		return true
	case b >= 0xC2 && b <= 0xDF:
		u.need, u.lo, u.hi = 1, 0x80, 0xBF
	case b == 0xE0:
		u.need, u.lo, u.hi = 2, 0xA0, 0xBF
	case b >= 0xE1 && b <= 0xEC, b == 0xEE, b == 0xEF:
		u.need, u.lo, u.hi = 2, 0x80, 0xBF
	case b == 0xED:
		u.need, u.lo, u.hi = 2, 0x80, 0x9F
	case b == 0xF0:
		u.need, u.lo, u.hi = 3, 0x90, 0xBF
	case b >= 0xF1 && b <= 0xF3:
		u.need, u.lo, u.hi = 3, 0x80, 0xBF
	case b == 0xF4:
		u.need, u.lo, u.hi = 3, 0x80, 0x8F
	default:
		return false
	}
	return true
}

// complete reports whether the text read so far ends at a character boundary.
func (u *utf8Stream) complete() bool { return u.need == 0 }

// reset goes back to a character boundary.
func (u *utf8Stream) reset() { *u = utf8Stream{} }
