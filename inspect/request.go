package inspect

import (
	"strconv"
	"strings"
)

// Injection is a value the Detector refused, with where it was. Where never
// holds the value, and holds names taken from the request only when SafeName
// accepts them.
type Injection struct {
	Attack Attack
	Where  string
}

func (e *Injection) Error() string { return "possible " + attackName(e.Attack) + " in " + e.Where }

func attackName(a Attack) string {
	switch a {
	case SQLi:
		return "SQL injection"
	case XSS:
		return "cross-site scripting"
	}
	return "injection"
}

func quoteName[T string | []byte](kind string, name T) string {
	if SafeName(name) {
		return kind + ` "` + string(name) + `"`
	}
	return kind
}

// CheckQuery scans the values of a raw query string (a=1&b=2, still
// encoded). Malformed escapes are scanned as they are.
func CheckQuery(raw string, d Detector) *Injection {
	if !d.Enabled() {
		return nil
	}
	for raw != "" {
		var field string
		field, raw, _ = strings.Cut(raw, "&")
		name, value, _ := strings.Cut(field, "=")
		if value == "" {
			continue
		}
		if a := d.Detect(decodeQueryValue(value)); a != None {
			return &Injection{Attack: a, Where: quoteName("query parameter", decodeQueryValue(name))}
		}
	}
	return nil
}

// decodeQueryValue decodes %XX and '+' once, keeping malformed escapes.
func decodeQueryValue(v string) []byte {
	if strings.IndexByte(v, '%') < 0 && strings.IndexByte(v, '+') < 0 {
		return []byte(v)
	}
	dec, _ := percentDecode([]byte(v))
	return dec
}

// CheckPathSegments scans the segments of a decoded path. Segments are
// numbered from 1.
func CheckPathSegments(path string, d Detector) *Injection {
	if !d.Enabled() {
		return nil
	}
	n := 0
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg == "" {
			continue
		}
		n++
		if a := d.DetectString(seg); a != None {
			return &Injection{Attack: a, Where: "path segment " + strconv.Itoa(n)}
		}
	}
	return nil
}

// BodyKind is how a body is read.
type BodyKind uint8

const (
	// BodyOpaque bodies are only counted.
	BodyOpaque BodyKind = iota
	// BodyJSON bodies are checked as JSON, their string values scanned.
	BodyJSON
	// BodyForm bodies are scanned as URL-encoded forms.
	BodyForm
)

// BodyChecker checks a request body fed to it in pieces: JSON well-formedness
// (UTF-8 included) and depth, injection in JSON string values or form values
// (which must then be well-formed UTF-8 once decoded), and method override
// fields in forms. Memory is bounded by the nesting depth and one window of
// one value.
//
// It is not safe for concurrent use; Reset makes it reusable.
type BodyChecker struct {
	// MaxDepth limits JSON nesting; zero means none.
	MaxDepth int
	// Detector scans values.
	Detector Detector
	// RefuseOverride refuses a form with a MethodOverrideParam field, and a
	// JSON object with a MethodOverrideParam member holding a string
	// (Laravel reads one from a JSON body).
	RefuseOverride bool

	kind BodyKind
	json JSONChecker
	form FormScanner
}

// Reset prepares the checker for a body of kind.
func (b *BodyChecker) Reset(kind BodyKind) {
	b.kind = kind
	switch kind {
	case BodyJSON:
		b.json.MaxDepth = b.MaxDepth
		b.json.OnString = nil
		if b.Detector.Enabled() || b.RefuseOverride {
			b.json.OnString = b.jsonValue
		}
		b.json.Reset()
	case BodyForm:
		b.form = FormScanner{OnValue: b.formValue, RequireUTF8: b.Detector.Enabled(), name: b.form.name[:0], val: b.form.val[:0]}
	}
}

func (b *BodyChecker) jsonValue(v []byte) error {
	if b.RefuseOverride {
		if key, ok := b.json.TopLevelKey(); ok && IsMethodOverrideName(key) {
			return ErrMethodOverride
		}
	}
	if !b.Detector.Enabled() {
		return nil
	}
	if a := b.Detector.Detect(v); a != None {
		where := "JSON value"
		if p := b.json.Pointer(); p != "" {
			where += " at " + p
		}
		return &Injection{Attack: a, Where: where}
	}
	return nil
}

func (b *BodyChecker) formValue(name, v []byte) error {
	if b.RefuseOverride && IsMethodOverrideName(name) {
		return ErrMethodOverride
	}
	if a := b.Detector.Detect(v); a != None {
		return &Injection{Attack: a, Where: quoteName("form field", name)}
	}
	return nil
}

// Write feeds the next piece of the body. The error is a *JSONError (which
// may wrap ErrMalformedUTF8), an *Injection, ErrMalformedUTF8 or
// ErrMethodOverride.
func (b *BodyChecker) Write(p []byte) (int, error) {
	switch b.kind {
	case BodyJSON:
		return b.json.Write(p)
	case BodyForm:
		return b.form.Write(p)
	}
	return len(p), nil
}

// Close ends the body.
func (b *BodyChecker) Close() error {
	switch b.kind {
	case BodyJSON:
		return b.json.Close()
	case BodyForm:
		return b.form.Close()
	}
	return nil
}
