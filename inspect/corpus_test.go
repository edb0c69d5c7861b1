package inspect

import (
	"net/url"
	"strings"
)

// attackCorpus are payloads that must be blocked, in the encodings they
// arrive in (the detector decodes percent-encoding and HTML entities).
var attackCorpus = []struct {
	kind    Attack
	payload string
}{
	// SQL injection: tautologies, unions, comments, stacked queries, blind and
	// time-based, in string and numeric contexts.
	{SQLi, `' OR '1'='1`},
	{SQLi, `' or 1=1--`},
	{SQLi, `" or ""="`},
	{SQLi, `admin'--`},
	{SQLi, `admin'/*`},
	{SQLi, `1 or 1=1`},
	{SQLi, `1' AND 1=1 --`},
	{SQLi, `1 UNION SELECT username, password FROM users`},
	{SQLi, `' UNION ALL SELECT NULL,NULL,NULL--`},
	{SQLi, `1; DROP TABLE users`},
	{SQLi, `'; DROP TABLE users; --`},
	{SQLi, `1' AND SLEEP(5)--`},
	{SQLi, `1 AND (SELECT * FROM (SELECT(SLEEP(5)))a)`},
	{SQLi, `'; WAITFOR DELAY '0:0:5'--`},
	{SQLi, `1' AND extractvalue(1,concat(0x7e,version()))--`},
	{SQLi, `' AND 1=(SELECT COUNT(*) FROM tabname); --`},
	{SQLi, `-1 UNION SELECT 1,2,3`},
	{SQLi, `1' ORDER BY 3--+`},
	{SQLi, `' OR 'x'='x`},
	{SQLi, `') OR ('1'='1`},
	{SQLi, `1)) OR 1=1--`},
	{SQLi, `x' AND email IS NULL; --`},
	{SQLi, `1 AND 1=CONVERT(int,@@version)`},
	{SQLi, `' HAVING 1=1--`},
	{SQLi, `' GROUP BY columnnames HAVING 1=1 --`},
	{SQLi, `1' UNION SELECT load_file('/etc/passwd')--`},
	{SQLi, `' OR 1=1 LIMIT 1 --`},
	{SQLi, `1'||'1`},
	{SQLi, `1 oR 1=1`},
	{SQLi, `' uNiOn SeLeCt 1,2--`},
	{SQLi, `1/**/UNION/**/SELECT/**/1`},
	// The same, encoded.
	{SQLi, url.QueryEscape(`' OR '1'='1`)},
	{SQLi, url.PathEscape(`1 UNION SELECT username, password FROM users`)},
	{SQLi, `%27%20OR%20%271%27%3D%271`},
	{SQLi, `%2527%2520OR%25201%253D1--`},
	{SQLi, `1%20or%201%3D1`},
	{SQLi, `admin%27--`},
	// Cross-site scripting: tags, event handlers, javascript: URLs, breaking
	// out of attributes.
	{XSS, `<script>alert(1)</script>`},
	{XSS, `<SCRIPT SRC=//evil.example/x.js></SCRIPT>`},
	{XSS, `"><script>alert(document.cookie)</script>`},
	{XSS, `<img src=x onerror=alert(1)>`},
	{XSS, `<img src="x" onerror="alert('xss')">`},
	{XSS, `<svg/onload=alert(1)>`},
	{XSS, `<svg><script>alert(1)</script></svg>`},
	{XSS, `<body onload=alert(1)>`},
	{XSS, `<iframe src="javascript:alert(1)"></iframe>`},
	{XSS, `<a href="javascript:alert(1)">click</a>`},
	{XSS, `" onmouseover="alert(1)`},
	{XSS, `' onfocus='alert(1)' autofocus='`},
	{XSS, `<details open ontoggle=alert(1)>`},
	{XSS, `<input autofocus onfocus=alert(1)>`},
	{XSS, `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`},
	{XSS, `<object data="javascript:alert(1)">`},
	{XSS, `<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">`},
	{XSS, `<div style="background:url(javascript:alert(1))">`},
	{XSS, `<ScRiPt>alert(1)</sCrIpT>`},
	// The same, encoded.
	{XSS, url.QueryEscape(`<script>alert(1)</script>`)},
	{XSS, `%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E`},
	{XSS, `%253Cscript%253Ealert(1)%253C%252Fscript%253E`},
	{XSS, `&lt;script&gt;alert(1)&lt;/script&gt;`},
	{XSS, `&#60;img src=x onerror=alert(1)&#62;`},
	{XSS, `&#x3C;svg onload=alert(1)&#x3E;`},
}

// benignCorpus is ordinary API traffic that must pass: names with
// apostrophes, prose with SQL words and quotes, HTML entities and markup in
// rich text, identifiers, dates, URLs.
var benignCorpus = []string{
	"O'Reilly", "John O'Brien", "D'Angelo", "O'Neil-Smith", "Rock 'n' roll",
	"Mary O'Connor-D'Arcy", "L'Oréal", "Côte d'Ivoire", "Martha's Vineyard",
	"It's 5 o'clock", "it's a 'quoted' word", `He said "hello" and left`,
	`5' 10" tall`, "Don't delete from the list or update it",
	"Please select the best option from the menu and drop it in the cart",
	"drop table if you like", "SELECT * FROM users", "union all",
	"I'd like 2 items - or 3", "Where and when? Select from: red, green or blue.",
	"Insert coin, then select a drink", "We'll update you once the order ships",
	"Tom & Jerry", "Fish & chips", "AT&T", "R&D budget for Q3",
	"&lt;b&gt;bold&lt;/b&gt;", "&amp;", "caf&eacute;", "&quot;quoted&quot;", "5 &gt; 3",
	"<b>bold</b> and <i>italic</i>", "<p>Hello, world!</p>", "a < b and c > d",
	"I <3 cats", "what's up? <3", "1 < 2", "x => x * 2",
	"the user's (primary) address; see notes", "price: 5-3=2",
	"Smith, John", "hello world", "ord_1042", "550e8400-e29b-41d4-a716-446655440000",
	"2026-01-02T03:04:05Z", "2024-01-02", "+1 (555) 010-9999", "mary@example.com",
	"https://example.com/a/b?c=d&e=f", "/orders/42", "C:\\Users\\me", "50% off",
	"100%", "#hashtag", "@mention", "Cost: $12.50 (incl. tax)", "Q&A",
	"It's the 'best' – isn't it?", "Use the -- flag to stop options",
	"rating: 4.5/5", "Hello; goodbye", "[1, 2, 3]", `{"nested": "json in a string"}`,
	"SELECT your seat, then UPDATE your profile", "Bobby Tables' mom",
	"O'Hara's pub & grill", "The 'where' clause", "true", "null", "0", "-1", "3.14",
}

// knownFalsePositives are benign texts libinjection refuses: arithmetic
// comparisons read as numeric tautologies. Reported, not required to pass.
var knownFalsePositives = []string{
	"5 > 3 and 2 < 4",
}

// knownMisses are attacks libinjection lets through: a quote closed by a MySQL
// '#' comment with nothing after it. Reported, not required to be blocked.
var knownMisses = []string{"admin' #", "admin'-- -"}

func joinLines(s []string) string { return strings.Join(s, "\n") }
