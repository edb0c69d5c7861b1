package inspect

import (
	"errors"
	"strconv"
)

// JSON errors. A *JSONError wraps one of them.
var (
	// ErrJSONSyntax is malformed JSON.
	ErrJSONSyntax = errors.New("malformed JSON")
	// ErrJSONDepth is JSON nested deeper than the limit.
	ErrJSONDepth = errors.New("JSON nested too deeply")
)

// JSONError is a JSON document that failed a check, with the byte offset where
// it failed.
type JSONError struct {
	Err    error // ErrJSONSyntax, ErrJSONDepth or ErrMalformedUTF8
	Offset int64
}

func (e *JSONError) Error() string {
	return e.Err.Error() + " at byte " + strconv.FormatInt(e.Offset, 10)
}

func (e *JSONError) Unwrap() error { return e.Err }

// DefaultStringWindow is how many bytes of one string value the checker hands
// to OnString at a time. Longer strings are handed over in overlapping windows
// (StringOverlap bytes of overlap), so memory stays bounded.
const (
	DefaultStringWindow = 16 << 10
	StringOverlap       = 512
)

// stringStop marks the bytes that end a run of plain ASCII inside a string:
// the quote, the backslash, control characters and non-ASCII bytes.
var stringStop = func() (t [256]bool) {
	for b := range 256 {
		t[b] = b == '"' || b == '\\' || b < 0x20 || b >= 0x80
	}
	return t
}()

// maxKeyLen is how much of an object key the checker keeps to name a location.
const maxKeyLen = 64

// states of the JSON checker.
const (
	jsValue      = iota // expecting a value
	jsValueOrEnd        // expecting a value or ']' (just after '[')
	jsAfterValue        // expecting ',', ']' or '}' or the end
	jsKeyOrEnd          // expecting a key or '}' (just after '{')
	jsKey               // expecting a key (after ',')
	jsColon             // expecting ':'
	jsString            // inside a string
	jsEscape            // after '\' inside a string
	jsUnicode           // inside \uXXXX
	jsNumMinus          // after '-'
	jsNumZero           // after a leading 0
	jsNumInt            // in the integer part
	jsNumDot            // after '.'
	jsNumFrac           // in the fraction
	jsNumE              // after 'e'
	jsNumESign          // after 'e+' or 'e-'
	jsNumExp            // in the exponent
	jsLiteral           // inside true, false or null
	jsDone              // after the top-level value
)

// frame is one open container.
type frame struct {
	object bool
	index  int    // element index in an array
	key    []byte // current key in an object (truncated to maxKeyLen)
	keyCut bool   // key was truncated
}

// JSONChecker checks a JSON document fed to it in pieces: well-formedness (RFC
// 8259 grammar, and UTF-8 as RFC 8259 section 8.1 requires) and nesting depth. It keeps one frame per open container and a
// bounded window of the current string, never the document. With OnString set,
// it hands every string value (not object keys), decoded, to OnString.
//
// The zero value checks with no depth limit. A JSONChecker is not safe for
// concurrent use; Reset makes it reusable.
type JSONChecker struct {
	// MaxDepth is the deepest nesting allowed: 1 allows `{"a":1}` but not
	// `{"a":[1]}`. Zero means no limit.
	MaxDepth int
	// OnString, when set, receives each string value decoded from its escapes,
	// in windows of at most StringWindow bytes. A non-nil error stops the check
	// and is returned by Write. The slice is valid only during the call.
	OnString func(value []byte) error
	// StringWindow overrides DefaultStringWindow.
	StringWindow int

	state   int
	stack   []frame
	offset  int64
	lit     string // the literal being matched
	litPos  int
	hexLeft int
	hexVal  rune
	hiSurr  rune // pending high surrogate of a \u pair, or 0
	inKey   bool // the string being read is an object key
	sbuf    []byte
	utf8    utf8Stream // inside a string: UTF-8 must be well-formed
	err     error
}

// Reset prepares the checker for a new document, keeping its settings and
// buffers.
func (c *JSONChecker) Reset() {
	c.state = jsValue
	c.stack = c.stack[:0]
	c.offset = 0
	c.hiSurr = 0
	c.sbuf = c.sbuf[:0]
	c.utf8.reset()
	c.err = nil
}

// Depth returns the current nesting depth.
func (c *JSONChecker) Depth() int { return len(c.stack) }

func (c *JSONChecker) fail(err error, at int) error {
	c.err = &JSONError{Err: err, Offset: c.offset + int64(at)}
	return c.err
}

func (c *JSONChecker) window() int {
	if c.StringWindow > StringOverlap {
		return c.StringWindow
	}
	return DefaultStringWindow
}

// Write feeds the next piece of the document. It returns a *JSONError at the
// first fault, or OnString's error; after an error every call returns it.
//
// Write is one algorithm, the grammar's state machine with its fast paths
// for runs of plain string bytes, and reads better whole than cut into
// functions that would share every variable of the loop.
func (c *JSONChecker) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for i := 0; i < len(p); i++ {
		if c.err != nil {
			return i, c.err
		}
		b := p[i]
		switch c.state {
		case jsString:
			// Fast path over ordinary string bytes.
			j := i
			// The rest of a character a previous piece began.
			for !c.utf8.complete() && j < len(p) {
				if !c.utf8.step(p[j]) {
					return j, c.fail(ErrMalformedUTF8, j)
				}
				j++
			}
			for {
				for j < len(p) && !stringStop[p[j]] {
					j++
				}
				if j == len(p) || p[j] < 0x80 {
					break
				}
				// A multi-byte character: read it whole, or to the end
				// of the piece.
				if !c.utf8.step(p[j]) {
					return j, c.fail(ErrMalformedUTF8, j)
				}
				j++
				for !c.utf8.complete() && j < len(p) {
					if !c.utf8.step(p[j]) {
						return j, c.fail(ErrMalformedUTF8, j)
					}
					j++
				}
			}
			if j > i {
				c.addString(p[i:j])
			}
			if j == len(p) {
				i = j
				continue
			}
			i = j
			b = p[i]
			if !c.utf8.complete() {
				return i, c.fail(ErrMalformedUTF8, i)
			}
			switch {
			case b == '"':
				if err := c.endString(); err != nil {
					c.err = err
					return i, err
				}
			case b == '\\':
				c.state = jsEscape
			default:
				return i, c.fail(ErrJSONSyntax, i)
			}
		case jsEscape:
			var r byte
			switch b {
			case '"', '\\', '/':
				r = b
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
				c.state, c.hexLeft, c.hexVal = jsUnicode, 4, 0
				continue
			default:
				return i, c.fail(ErrJSONSyntax, i)
			}
			c.flushSurrogate()
			c.addString([]byte{r})
			c.state = jsString
		case jsUnicode:
			v, ok := hexVal(b)
			if !ok {
				return i, c.fail(ErrJSONSyntax, i)
			}
			c.hexVal = c.hexVal<<4 | rune(v)
			c.hexLeft--
			if c.hexLeft == 0 {
				c.addRune(c.hexVal)
				c.state = jsString
			}
		case jsValue, jsValueOrEnd:
			switch b {
			case ' ', '\t', '\n', '\r':
			case '{':
				if err := c.push(true, i); err != nil {
					return i, err
				}
				c.state = jsKeyOrEnd
			case '[':
				if err := c.push(false, i); err != nil {
					return i, err
				}
				c.state = jsValueOrEnd
			case '"':
				c.inKey = false
				c.sbuf = c.sbuf[:0]
				c.state = jsString
			case '-':
				c.state = jsNumMinus
			case '0':
				c.state = jsNumZero
			case 't':
				c.lit, c.litPos, c.state = "true", 1, jsLiteral
			case 'f':
				c.lit, c.litPos, c.state = "false", 1, jsLiteral
			case 'n':
				c.lit, c.litPos, c.state = "null", 1, jsLiteral
			case ']':
				if c.state != jsValueOrEnd {
					return i, c.fail(ErrJSONSyntax, i)
				}
				c.pop()
			default:
				if b >= '1' && b <= '9' {
					c.state = jsNumInt
					continue
				}
				return i, c.fail(ErrJSONSyntax, i)
			}
		case jsAfterValue, jsDone:
			switch b {
			case ' ', '\t', '\n', '\r':
			case ',':
				if c.state == jsDone {
					return i, c.fail(ErrJSONSyntax, i)
				}
				top := &c.stack[len(c.stack)-1]
				if top.object {
					c.state = jsKey
				} else {
					top.index++
					c.state = jsValue
				}
			case ']', '}':
				if c.state == jsDone || c.stack[len(c.stack)-1].object != (b == '}') {
					return i, c.fail(ErrJSONSyntax, i)
				}
				c.pop()
			default:
				return i, c.fail(ErrJSONSyntax, i)
			}
		case jsKeyOrEnd, jsKey:
			switch b {
			case ' ', '\t', '\n', '\r':
			case '"':
				c.inKey = true
				top := &c.stack[len(c.stack)-1]
				top.key, top.keyCut = top.key[:0], false
				c.state = jsString
			case '}':
				if c.state != jsKeyOrEnd {
					return i, c.fail(ErrJSONSyntax, i)
				}
				c.pop()
			default:
				return i, c.fail(ErrJSONSyntax, i)
			}
		case jsColon:
			switch b {
			case ' ', '\t', '\n', '\r':
			case ':':
				c.state = jsValue
			default:
				return i, c.fail(ErrJSONSyntax, i)
			}
		case jsLiteral:
			if b != c.lit[c.litPos] {
				return i, c.fail(ErrJSONSyntax, i)
			}
			c.litPos++
			if c.litPos == len(c.lit) {
				c.valueDone()
			}
		default: // numbers
			next, ok, consumed := numberStep(c.state, b)
			if !ok {
				return i, c.fail(ErrJSONSyntax, i)
			}
			if !consumed {
				// The number ended at b: b belongs to what follows.
				c.valueDone()
				i--
				continue
			}
			c.state = next
		}
	}
	c.offset += int64(len(p))
	if c.err != nil {
		return len(p), c.err
	}
	return len(p), nil
}

// Close reports whether the document ended complete.
func (c *JSONChecker) Close() error {
	if c.err != nil {
		return c.err
	}
	switch c.state {
	case jsDone:
		return nil
	case jsNumZero, jsNumInt, jsNumFrac, jsNumExp:
		if len(c.stack) == 0 {
			return nil
		}
	}
	return c.fail(ErrJSONSyntax, 0)
}

func (c *JSONChecker) push(object bool, at int) error {
	if c.MaxDepth > 0 && len(c.stack) >= c.MaxDepth {
		return c.fail(ErrJSONDepth, at)
	}
	if len(c.stack) < cap(c.stack) {
		c.stack = c.stack[:len(c.stack)+1]
		f := &c.stack[len(c.stack)-1]
		f.object, f.index, f.key, f.keyCut = object, 0, f.key[:0], false
		return nil
	}
	c.stack = append(c.stack, frame{object: object})
	return nil
}

func (c *JSONChecker) pop() {
	c.stack = c.stack[:len(c.stack)-1]
	c.valueDone()
}

// valueDone moves past a complete value.
func (c *JSONChecker) valueDone() {
	if len(c.stack) == 0 {
		c.state = jsDone
		return
	}
	c.state = jsAfterValue
}
