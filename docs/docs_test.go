package docs

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, seen from this package's folder.
const root = ".."

// page is one Markdown file of the documentation.
type page struct {
	path string // relative to root, with forward slashes
	text string
	// prose is the text outside fenced code blocks, where links and headings are.
	prose string
}

func readPages(t *testing.T) []page {
	t.Helper()
	paths := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range more {
		rel, _ := filepath.Rel(root, p)
		paths = append(paths, filepath.ToSlash(rel))
	}
	if len(paths) < 2 {
		t.Fatal("no pages in docs/")
	}
	var pages []page
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page{path: p, text: string(b), prose: withoutFences(string(b))})
	}
	return pages
}

// withoutFences blanks the lines of fenced code blocks, keeping line count.
func withoutFences(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		if fence || in {
			lines[i] = ""
		}
		if fence {
			in = !in
		}
	}
	return strings.Join(lines, "\n")
}

// code is what the Go sources of the repository hold.
type code struct {
	// literals are the values of every string literal of the non-test sources.
	literals map[string]bool
	// lower holds the literals in lower case, for names such as HTTP
	// headers that compare without case.
	lower map[string]bool
	// tests are the names of every Test, Benchmark and Fuzz function.
	tests map[string]bool
}

var testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)[A-Za-z0-9_]*)\(`)

func readCode(t *testing.T) code {
	t.Helper()
	c := code{literals: map[string]bool{}, lower: map[string]bool{}, tests: map[string]bool{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, "_test.go") {
			for _, m := range testFunc.FindAllSubmatch(src, -1) {
				c.tests[string(m[1])] = true
			}
			return nil
		}
		var s scanner.Scanner
		fset := token.NewFileSet()
		s.Init(fset.AddFile(path, -1, len(src)), src, nil, 0)
		for {
			_, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.STRING {
				if v, err := strconv.Unquote(lit); err == nil {
					c.literals[v] = true
					c.lower[strings.ToLower(v)] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.literals) == 0 {
		t.Fatal("no Go sources found")
	}
	return c
}

// names returns the distinct first submatches of re in text, in order.
func names(re *regexp.Regexp, text string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

var (
	metricName  = regexp.MustCompile(`\bcaddy_apigate_([a-z0-9_]+)`)
	redisName   = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])(apigate:[a-z0-9_:]*)`)
	eventName   = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:key|auth|rate_limit|upstream)\.[a-z_]+(?:\.[a-z_]+)*)`)
	placeholder = regexp.MustCompile(`http\.auth\.user\.([A-Za-z0-9_]+)`)
	// headerName finds the headers the gateway itself reads or writes (a
	// header an example only passes upstream, such as X-Consumer, is the
	// user's choice and not checked).
	headerName = regexp.MustCompile(`(?i)(?:^|[^a-z0-9_./-])(X-Apigate-[a-z-]*[a-z]|X-Api-Key|RateLimit(?:-[a-z]+)?|Cache-Status|Deprecation|Sunset|Retry-After|Webhook-[a-z]+|DPoP(?:-[a-z]+)?|WWW-Authenticate)\b`)
	goTestName = regexp.MustCompile("`((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*)\\*?`")
)

// TestDocumentedNamesExist checks every metric, Redis key or channel, event, header,
// placeholder and Go test the documentation names against the code.
func TestDocumentedNamesExist(t *testing.T) {
	pages := readPages(t)
	c := readCode(t)

	// Grafana's dashboard queries the metrics too.
	dashboard, err := os.ReadFile(filepath.Join(root, "examples", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, page{path: "examples/grafana-dashboard.json", text: string(dashboard)})

	for _, p := range pages {
		for _, m := range names(metricName, p.text) {
			// A metric is registered with namespace caddy and subsystem apigate
			// and this name; a histogram is queried as _bucket, _sum, _count.
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && c.literals[b] {
					base = b
				}
			}
			if !c.literals[base] && !c.literals["caddy_apigate_"+base] {
				t.Errorf("%s: metric caddy_apigate_%s is not registered by the code (no %q in the Go sources)", p.path, m, base)
			}
		}
		if strings.HasSuffix(p.path, ".json") {
			continue
		}
		for _, m := range names(redisName, p.text) {
			// The name's literal part, up to its first variable part ({hash},
			// <key id>), is a string of the code: a prefix or a whole name.
			if !c.literals[m] {
				t.Errorf("%s: Redis name %s... is not in the Go sources", p.path, m)
			}
		}
		for _, m := range names(eventName, p.text) {
			if !c.literals[m] {
				t.Errorf("%s: event %s is not emitted by the code (no %q in the Go sources)", p.path, m, m)
			}
		}
		for _, m := range names(placeholder, p.text) {
			// {http.auth.user.meta.<name>}: the code sets the prefix.
			if !c.literals["http.auth.user."+m] && !c.literals["http.auth.user."+m+"."] {
				t.Errorf("%s: placeholder {http.auth.user.%s} is not set by the code", p.path, m)
			}
		}
		for _, m := range names(headerName, p.text) {
			if !c.lower[strings.ToLower(m)] {
				t.Errorf("%s: header %s is not in the Go sources", p.path, m)
			}
		}
		for _, m := range names(goTestName, p.text) {
			if !c.tests[m] && !hasPrefixKey(c.tests, m) {
				t.Errorf("%s: %s names no test, benchmark or fuzz target", p.path, m)
			}
		}
	}
}

func hasPrefixKey(set map[string]bool, prefix string) bool {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *#*$`)
)

// TestLinksResolve checks every relative link of the documentation: the file
// or folder exists, and an anchor into a Markdown page names one of its
// headings.
func TestLinksResolve(t *testing.T) {
	pages := readPages(t)
	anchors := map[string]map[string]bool{}
	for _, p := range pages {
		anchors[p.path] = headingAnchors(p.prose)
	}
	for _, p := range pages {
		for _, target := range names(link, p.prose) {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := p.path
			if file != "" {
				dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(p.path), file)))
				if strings.HasPrefix(dest, "../") {
					t.Errorf("%s: link %s leaves the repository", p.path, target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
					t.Errorf("%s: link %s: %s does not exist", p.path, target, dest)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			set, ok := anchors[dest]
			if !ok {
				if strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: link %s: anchors are checked only in README.md and docs/*.md", p.path, target)
				}
				continue
			}
			if !set[anchor] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", p.path, target, dest, anchor)
			}
		}
	}
}

// headingAnchors returns the anchors GitHub gives the headings of a page.
func headingAnchors(prose string) map[string]bool {
	set := map[string]bool{}
	count := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(prose, -1) {
		a := slug(m[1])
		if n := count[a]; n > 0 {
			set[a+"-"+strconv.Itoa(n)] = true
		} else {
			set[a] = true
		}
		count[a]++
	}
	return set
}

// slug is GitHub's anchor of a heading: lower case, spaces to hyphens, and
// every character but letters, digits, '-' and '_' dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"`api_authorize`: what they may call":             "api_authorize-what-they-may-call",
		"Brute-force protection: `lockout` in `api_auth`": "brute-force-protection-lockout-in-api_auth",
		"The `api_gateway` global option":                 "the-api_gateway-global-option",
		"Inspection, masking and audit: `api_inspect`":    "inspection-masking-and-audit-api_inspect",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}

var (
	goModCaddy = regexp.MustCompile(`(?m)^\s*github\.com/caddyserver/caddy/v2 (v[0-9.]+)`)
	goModGo    = regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`)
	caddyVer   = regexp.MustCompile(`\bv2\.[0-9]+(?:\.[0-9]+)?\b`)
	goVer      = regexp.MustCompile(`\bGo ([0-9]+\.[0-9]+)\b`)
	speed      = regexp.MustCompile(`\b[0-9][0-9.,]* ?(?:ns|µs|us)\b|\breq(?:uests)?/s\b|\btimes plain\b|` +
		`(?i)\b(?:[0-9][0-9.]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|fifty|a hundred)[ -]?(?:times|×|x) (?:slower|faster|more|the [a-z' ]*(?:cost|time|speed|throughput))`)
)

// TestOneSetOfFacts checks what must be said once and the same everywhere: the
// Caddy and Go versions are go.mod's, and speed figures live in
// docs/benchmarks.md alone.
func TestOneSetOfFacts(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	caddy, gov := goModCaddy.FindSubmatch(mod), goModGo.FindSubmatch(mod)
	if caddy == nil || gov == nil {
		t.Fatal("go.mod names no Caddy or no Go version")
	}
	readme := ""
	for _, p := range readPages(t) {
		if p.path == "README.md" {
			readme = p.text
		}
		for _, v := range caddyVer.FindAllString(p.text, -1) {
			if v != string(caddy[1]) {
				t.Errorf("%s names Caddy %s; go.mod requires %s", p.path, v, caddy[1])
			}
		}
		for _, m := range goVer.FindAllStringSubmatch(p.text, -1) {
			if m[1] != string(gov[1]) {
				t.Errorf("%s names Go %s; go.mod says go %s", p.path, m[1], gov[1])
			}
		}
		if p.path != "docs/benchmarks.md" {
			for _, s := range speed.FindAllString(p.text, -1) {
				t.Errorf("%s: speed figure %q: speed figures belong in docs/benchmarks.md", p.path, s)
			}
		}
	}
	for _, want := range []string{string(caddy[1]), "Go " + string(gov[1])} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not state the prerequisite %s", want)
		}
	}
}
