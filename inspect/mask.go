package inspect

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
)

// MaskRule is a custom masking rule: matches of Pattern are replaced by
// "[redacted:Name]".
type MaskRule struct {
	Name    string
	Pattern string
}

// MaskConfig selects what a Masker masks.
type MaskConfig struct {
	// Card masks payment card numbers: 13 to 19 digits starting with 2 to 6,
	// optionally grouped with single spaces or dashes, that pass the Luhn check.
	// All digits but the last four become '*'.
	Card bool
	// Email masks e-mail addresses: the local part becomes "***".
	Email bool
	// Regex are custom rules. A match longer than MaxMatch bytes may escape
	// masking where it straddles two writes, and matches should not span
	// lines: a stream is only cut at a newline when custom rules are set.
	Regex []MaskRule
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
			at := s.start + bytes.IndexByte(text[s.start:s.end], '@')
			out = append(out, "***"...)
			out = append(out, src[rawAt(pos, at):rawAt(pos, s.end)]...)
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

// findCards appends the card numbers in buf. A run of digit groups joined by
// single spaces or dashes is tried from each group on, longest first, so a
// card next to another number ("qty 3 4111 1111 1111 1111") is still found.
func findCards(buf []byte, prev byte, spans []span) []span {
	var groupsArr [24][2]int
	for i := 0; i < len(buf); i++ {
		if !isDigit(buf[i]) {
			continue
		}
		before := prev
		if i > 0 {
			before = buf[i-1]
		}
		// Read the run's groups.
		groups := groupsArr[:0]
		j := i
		for j < len(buf) {
			gs := j
			for j < len(buf) && isDigit(buf[j]) {
				j++
			}
			groups = append(groups, [2]int{gs, j})
			if j+1 < len(buf) && (buf[j] == ' ' || buf[j] == '-') && isDigit(buf[j+1]) {
				j++
				continue
			}
			break
		}
		end := groups[len(groups)-1][1]
		after := byte(0)
		if end < len(buf) {
			after = buf[end]
		}
		spans = cardsInRun(buf, groups, !wordByte(before), !wordByte(after), spans)
		i = end - 1
	}
	return spans
}

func wordByte(b byte) bool { return isAlnum(b) || b == '_' }

// cardsInRun appends the cards among the groups of one run. startOK and
// endOK tell whether the run is bounded by a non-word byte on either side.
func cardsInRun(buf []byte, groups [][2]int, startOK, endOK bool, spans []span) []span {
	for gi := 0; gi < len(groups); gi++ {
		start := groups[gi][0]
		if gi == 0 && !startOK || buf[start] < '2' || buf[start] > '6' {
			continue
		}
		found := -1
		digits := 0
		for gj := gi; gj < len(groups); gj++ {
			digits += groups[gj][1] - groups[gj][0]
			if digits > maxCardDigits {
				break
			}
			if digits >= minCardDigits && (endOK || gj < len(groups)-1) && luhn(buf[start:groups[gj][1]]) {
				found = gj // keep looking for a longer one
			}
		}
		if found >= 0 {
			spans = append(spans, span{start, groups[found][1], kindCard})
			gi = found
		}
	}
	return spans
}

// luhn checks the digits of s (other bytes are skipped).
func luhn(s []byte) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		if !isDigit(s[i]) {
			continue
		}
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// maskCard appends the card at view offsets start to end with all digits
// but the last four replaced by '*' (an escaped digit too, whole), and what
// separates them as written.
func maskCard(out, src, text []byte, pos []int, start, end int) []byte {
	digits := 0
	for _, b := range text[start:end] {
		if isDigit(b) {
			digits++
		}
	}
	seen := 0
	for k := start; k < end; k++ {
		if isDigit(text[k]) {
			seen++
			if seen <= digits-4 {
				out = append(out, '*')
				continue
			}
		}
		if pos == nil {
			out = append(out, text[k])
		} else {
			out = append(out, src[pos[k]:pos[k+1]]...)
		}
	}
	return out
}

// findEmails appends the e-mail addresses in buf.
func findEmails(buf []byte, prev byte, spans []span) []span {
	from := 0
	for {
		k := bytes.IndexByte(buf[from:], '@')
		if k < 0 {
			return spans
		}
		at := from + k
		from = at + 1
		start := at
		for start > 0 && at-start < maxLocal+1 && isLocal(buf[start-1]) {
			start--
		}
		if start == at || at-start > maxLocal {
			continue
		}
		if start == 0 && isLocal(prev) {
			continue // the local part began before what we see
		}
		if buf[start] == '.' || buf[at-1] == '.' {
			continue
		}
		end := at + 1
		for end < len(buf) && end-at-1 < maxDomain+1 && isDomain(buf[end]) {
			end++
		}
		if end-at-1 > maxDomain {
			continue
		}
		for end > at+1 && (buf[end-1] == '.' || buf[end-1] == '-') {
			end--
		}
		if !validDomain(buf[at+1 : end]) {
			continue
		}
		spans = append(spans, span{start, end, kindEmail})
		from = end
	}
}

// validDomain checks labels separated by single dots, at least two, the last
// of two or more letters.
func validDomain(d []byte) bool {
	dot := bytes.LastIndexByte(d, '.')
	if dot <= 0 || len(d)-dot-1 < 2 || bytes.Contains(d, []byte("..")) || d[0] == '-' {
		return false
	}
	for _, b := range d[dot+1:] {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			return false
		}
	}
	return true
}

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
