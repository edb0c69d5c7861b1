package inspect

import "bytes"

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

// findEmails appends the local parts of the e-mail addresses in buf.
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
		// The span is the local part alone: the domain stays text that
		// the other rules read (a token after an '@' is still masked).
		spans = append(spans, span{start, at, kindEmail})
		from = end
	}
}

// validDomain checks labels separated by single dots, at least two, the last
// of two or more characters with a letter among them: a top-level domain
// may hold digits and hyphens (xn--p1ai), and what looks like an address is
// masked, whether or not its domain exists (example.com0 included).
func validDomain(d []byte) bool {
	dot := bytes.LastIndexByte(d, '.')
	if dot <= 0 || len(d)-dot-1 < 2 || bytes.Contains(d, []byte("..")) || d[0] == '-' {
		return false
	}
	for _, b := range d[dot+1:] {
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' {
			return true
		}
	}
	return false
}
