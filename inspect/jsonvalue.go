package inspect

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// numberStep advances the number grammar by one byte. consumed is false when b
// ends a complete number (ok is then true).
func numberStep(state int, b byte) (next int, ok, consumed bool) {
	digit := b >= '0' && b <= '9'
	switch state {
	case jsNumMinus:
		if b == '0' {
			return jsNumZero, true, true
		}
		if digit {
			return jsNumInt, true, true
		}
		return 0, false, false
	case jsNumZero, jsNumInt:
		switch {
		case digit && state == jsNumInt:
			return jsNumInt, true, true
		case digit:
			return 0, false, false // leading zero
		case b == '.':
			return jsNumDot, true, true
		case b == 'e' || b == 'E':
			return jsNumE, true, true
		}
		return 0, true, false
	case jsNumDot:
		if digit {
			return jsNumFrac, true, true
		}
		return 0, false, false
	case jsNumFrac:
		switch {
		case digit:
			return jsNumFrac, true, true
		case b == 'e' || b == 'E':
			return jsNumE, true, true
		}
		return 0, true, false
	case jsNumE:
		if b == '+' || b == '-' {
			return jsNumESign, true, true
		}
		if digit {
			return jsNumExp, true, true
		}
		return 0, false, false
	case jsNumESign:
		if digit {
			return jsNumExp, true, true
		}
		return 0, false, false
	case jsNumExp:
		if digit {
			return jsNumExp, true, true
		}
		return 0, true, false
	}
	return 0, false, false
}

func (c *JSONChecker) endString() error {
	c.flushSurrogate()
	if c.inKey {
		c.state = jsColon
		return nil
	}
	c.valueDone()
	if c.OnString != nil {
		err := c.OnString(c.sbuf)
		c.sbuf = c.sbuf[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// addString appends decoded string bytes: to the key, or to the value window.
func (c *JSONChecker) addString(b []byte) {
	if c.inKey {
		top := &c.stack[len(c.stack)-1]
		room := maxKeyLen - len(top.key)
		if len(b) > room {
			b, top.keyCut = b[:room], true
		}
		top.key = append(top.key, b...)
		return
	}
	if c.OnString == nil {
		return
	}
	for len(b) > 0 {
		room := c.window() - len(c.sbuf)
		n := min(room, len(b))
		c.sbuf = append(c.sbuf, b[:n]...)
		b = b[n:]
		if len(c.sbuf) >= c.window() {
			if err := c.OnString(c.sbuf); err != nil && c.err == nil {
				c.err = err
			}
			keep := c.sbuf[len(c.sbuf)-StringOverlap:]
			c.sbuf = append(c.sbuf[:0], keep...)
		}
	}
}

// addRune appends a \u escape, joining surrogate pairs.
func (c *JSONChecker) addRune(r rune) {
	if c.hiSurr != 0 {
		hi := c.hiSurr
		c.hiSurr = 0
		if r >= 0xDC00 && r <= 0xDFFF {
			c.appendRune(utf16.DecodeRune(hi, r))
			return
		}
		c.appendRune(utf8.RuneError)
	}
	if r >= 0xD800 && r <= 0xDBFF {
		c.hiSurr = r
		return
	}
	if r >= 0xDC00 && r <= 0xDFFF {
		r = utf8.RuneError
	}
	c.appendRune(r)
}

func (c *JSONChecker) flushSurrogate() {
	if c.hiSurr != 0 {
		c.hiSurr = 0
		c.appendRune(utf8.RuneError)
	}
}

func (c *JSONChecker) appendRune(r rune) {
	var buf [4]byte
	n := utf8.EncodeRune(buf[:], r)
	c.addString(buf[:n])
}

func hexVal(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// Pointer names where the checker is, as a JSON pointer (RFC 6901) such as
// /user/addresses/0/street. Keys are request data: a key that is long or holds
// anything but letters, digits, '_', '-' and '.' is shown as "~key", so the
// name never echoes a payload.
func (c *JSONChecker) Pointer() string {
	if len(c.stack) == 0 {
		return ""
	}
	var sb strings.Builder
	for i := range c.stack {
		f := &c.stack[i]
		sb.WriteByte('/')
		if !f.object {
			sb.WriteString(strconv.Itoa(f.index))
			continue
		}
		if f.keyCut || !SafeName(f.key) {
			sb.WriteString("~key")
			continue
		}
		sb.Write(f.key)
	}
	return sb.String()
}

// SafeName reports whether a name taken from a request (a key, a parameter
// name) may be shown in an answer: 1 to 64 letters, digits, '_', '-' or '.'.
func SafeName[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.' {
			continue
		}
		return false
	}
	return true
}

// TopLevelKey returns the name of the member being read, decoded and cut to
// maxKeyLen bytes, when it is a member of the top-level object.
func (c *JSONChecker) TopLevelKey() ([]byte, bool) {
	if len(c.stack) != 1 || !c.stack[0].object {
		return nil, false
	}
	return c.stack[0].key, true
}
