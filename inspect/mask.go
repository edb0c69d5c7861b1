package inspect

import (
	"fmt"
	"regexp"
	"slices"
)

// MaskRule is a custom masking rule: matches of Pattern are replaced by
// "[redacted:Name]".
type MaskRule struct {
	// Name names the rule in the replacement: 1 to 64 letters, digits, '_',
	// '-' or '.'.
	Name string `json:"name"`
	// Pattern is a Go regular expression (RE2 syntax) that does not match
	// the empty string. Matches should stay within a line and under 4 KiB.
	Pattern string `json:"pattern"`
}

// MaskConfig selects what is masked in response bodies (api_inspect's `mask`)
// and what a Masker masks.
type MaskConfig struct {
	// Card masks payment card numbers: 13 to 19 digits starting with 2 to 6,
	// optionally grouped with single spaces or dashes, that pass the Luhn check.
	// All digits but the last four become '*'.
	Card bool `json:"card,omitempty"`
	// Email masks e-mail addresses: the local part becomes "***".
	Email bool `json:"email,omitempty"`
	// Regex are custom rules: each match becomes "[redacted:<name>]". A match
	// longer than MaxMatch bytes may escape masking where it straddles two
	// writes, and matches should not span lines: a stream is only cut at a
	// newline when custom rules are set.
	Regex []MaskRule `json:"regex,omitempty"`
}

// MaxMatch is the longest match a streaming Masker is sure to see whole: it
// holds back at most this many bytes that may belong to a match still being
// written.
const MaxMatch = 4 << 10

// maxHold bounds what the writer holds back when a custom match keeps
// growing.
const maxHold = 4 * MaxMatch

const (
	maxCardDigits = 19
	minCardDigits = 13
	maxLocal      = 64
	maxDomain     = 253
)

type namedRegexp struct {
	re          *regexp.Regexp
	replacement []byte
}

// Masker masks sensitive data in text. It is built once (NewMasker) and is
// safe for concurrent use; each stream gets its own MaskWriter.
type Masker struct {
	card, email bool
	regex       []namedRegexp
}

// NewMasker compiles a configuration.
func NewMasker(cfg MaskConfig) (*Masker, error) {
	m := &Masker{card: cfg.Card, email: cfg.Email}
	for _, r := range cfg.Regex {
		if !SafeName(r.Name) {
			return nil, fmt.Errorf("mask regex: name %q must be 1 to 64 letters, digits, '_', '-' or '.'", r.Name)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("mask regex %s: %v", r.Name, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("mask regex %s: the pattern matches the empty string", r.Name)
		}
		m.regex = append(m.regex, namedRegexp{re: re, replacement: []byte("[redacted:" + r.Name + "]")})
	}
	return m, nil
}

// Enabled reports whether the masker masks anything.
func (m *Masker) Enabled() bool { return m != nil && (m.card || m.email || len(m.regex) > 0) }

// span is one match to replace.
type span struct {
	start, end int
	kind       int8 // -1 card, -2 email, else index of a regex rule
}

const (
	kindCard  = -1
	kindEmail = -2
)

// Mask returns b with every match masked (b itself when nothing matched).
// Matches are found through escapes (see unescape.go) and replaced as
// written.
func (m *Masker) Mask(b []byte) []byte {
	text, pos := b, []int(nil)
	if hasEscapes(b, true) {
		text, pos = unescape(nil, nil, b, true)
	}
	spans := m.find(text, 0, nil)
	if len(spans) == 0 {
		return b
	}
	return m.apply(nil, b, text, pos, spans, len(text))
}

// MaskHead masks b, the first bytes of a body (more tells whether the body
// went on past them), and returns at most n bytes of the result. Neither cut
// leaves part of a word: where b or the result would end inside a run of
// letters, digits and the characters of keys, tokens and escapes, the whole
// run is dropped, so no recognisable start of a credential is kept. The
// result may share memory with b.
func (m *Masker) MaskHead(b []byte, more bool, n int) []byte {
	if more {
		b = b[:runStart(b, len(b))]
	}
	out := m.Mask(b)
	if len(out) > n {
		if tokenByte(out[n]) {
			n = runStart(out, n)
		}
		out = out[:n]
	}
	return out
}

// runStart returns where the run of token bytes that b[:cut] ends with
// starts (cut itself when b[cut-1] is not a token byte).
func runStart(b []byte, cut int) int {
	for cut > 0 && tokenByte(b[cut-1]) {
		cut--
	}
	return cut
}

// tokenByte reports whether b may be part of a key, a token (JWT, base64,
// hex) or an escape.
func tokenByte(b byte) bool {
	switch b {
	case '-', '.', '_', '~', '+', '/', '=', '\\', '%', '&', '#', ';':
		return true
	}
	return isAlnum(b)
}

// find returns the matches in buf, sorted and not overlapping. prev is the
// byte before buf in the stream (0 at its start).
func (m *Masker) find(buf []byte, prev byte, spans []span) []span {
	spans = spans[:0]
	if m.card {
		spans = findCards(buf, prev, spans)
	}
	if m.email {
		spans = findEmails(buf, prev, spans)
	}
	for i, r := range m.regex {
		for _, loc := range r.re.FindAllIndex(buf, -1) {
			if loc[1] > loc[0] {
				spans = append(spans, span{loc[0], loc[1], int8(i)})
			}
		}
	}
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	out := spans[:1]
	for _, s := range spans[1:] {
		if s.start >= out[len(out)-1].end {
			out = append(out, s)
		}
	}
	return out
}

// apply appends src up to view offset cut with the spans that start before
// cut replaced. text is the view the spans were found in, pos maps it to src
// (nil: the view is src itself).
func (m *Masker) apply(out, src, text []byte, pos []int, spans []span, cut int) []byte {
	last := 0
	for _, s := range spans {
		if s.start >= cut {
			break
		}
		out = append(out, src[rawAt(pos, last):rawAt(pos, s.start)]...)
		switch s.kind {
		case kindCard:
			out = maskCard(out, src, text, pos, s.start, s.end)
		case kindEmail:
			out = append(out, "***"...) // the local part; the domain stays
		default:
			out = append(out, m.regex[s.kind].replacement...)
		}
		last = s.end
	}
	if last < cut {
		out = append(out, src[rawAt(pos, last):rawAt(pos, cut)]...)
	}
	return out
}

// soft reports whether b may be part of a match, so a stream must not be cut
// right after it.
func (m *Masker) soft(b byte) bool {
	if len(m.regex) > 0 {
		return b != '\n'
	}
	if b >= '0' && b <= '9' || b == ' ' || b == '-' {
		return true
	}
	return m.email && (isLocal(b) || b == '@')
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isLocal(b byte) bool {
	return isAlnum(b) || b == '.' || b == '_' || b == '%' || b == '+' || b == '-'
}

func isDomain(b byte) bool { return isAlnum(b) || b == '.' || b == '-' }
