package openapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pb33f/libopenapi-validator/router"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// maxPathParams bounds the parameters of one path template the trie holds.
const maxPathParams = 16

// A pathTrie matches request paths to the document's path templates, one
// segment per level, as the library's radix router does in path-only mode:
// a literal segment before a parameter, backtracking when the literal leads
// nowhere, the path's outer slashes ignored, the method looked up after the
// path. It serves only plain paths (see plainPath): a path with a
// percent-encoding, an empty or dot segment, a trailing slash or a fragment
// goes to the library's router, whose checks for paths that other routers
// read differently (ErrAmbiguousPath) then apply unchanged.
// TestMatchAgreesWithLibrary checks that both find the same operations.
type pathTrie struct {
	literal map[string]*pathTrie
	param   *pathTrie
	leaf    *pathLeaf
}

// pathLeaf is a path template the trie ends on.
type pathLeaf struct {
	item     *v3.PathItem
	template string
	names    []string // the template's parameters, in order
}

// matched is the route of a request; byTrie when the trie found it, with
// its path parameters' values.
type matched struct {
	router.Route
	byTrie bool
	values [maxPathParams]string
}

// buildTrie compiles the document's path templates. A template with a
// fragment or with a segment that mixes literal text and braces is left out
// (complete is then false, and a path the trie misses goes to the library,
// which matches those by regular expression). It returns nil when a
// template has a parameter segment the library reads as a regular
// expression ({id:[0-9]+}, {.label}, {;matrix}, {list*}) or too many
// parameters: the document is then matched by the library alone.
func buildTrie(model *v3.Document) (root *pathTrie, complete bool) {
	root, complete = &pathTrie{}, true
templates:
	for template, item := range model.Paths.PathItems.FromOldest() {
		segs := splitTrimmed(template)
		for _, seg := range segs {
			if strings.ContainsAny(seg, "{}") && (len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}') || strings.Contains(seg, "#") {
				complete = false
				continue templates
			}
		}
		n, names := root, []string(nil)
		for _, seg := range segs {
			if seg[0] != '{' {
				if n.literal == nil {
					n.literal = map[string]*pathTrie{}
				}
				if n.literal[seg] == nil {
					n.literal[seg] = &pathTrie{}
				}
				n = n.literal[seg]
				continue
			}
			name := seg[1 : len(seg)-1]
			if strings.ContainsAny(name, "{}:.*;") {
				return nil, false
			}
			if n.param == nil {
				n.param = &pathTrie{}
			}
			n, names = n.param, append(names, name)
		}
		if len(names) > maxPathParams {
			return nil, false
		}
		// a later template ending on the same node replaces the earlier one, as in the radix tree
		n.leaf = &pathLeaf{item: item, template: template, names: names}
	}
	return root, complete
}

func splitTrimmed(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// lookup finds the template of path, whose outer slashes are trimmed, and
// writes its parameters' values into values. It is one algorithm: a
// depth-first walk, literal child first.
func (n *pathTrie) lookup(path string, values *[maxPathParams]string, depth int) *pathLeaf {
	if path == "" {
		return n.leaf
	}
	seg, rest := path, ""
	if i := strings.IndexByte(path, '/'); i >= 0 {
		seg, rest = path[:i], path[i+1:]
	}
	if child := n.literal[seg]; child != nil {
		if leaf := child.lookup(rest, values, depth); leaf != nil {
			return leaf
		}
	}
	if n.param != nil && depth < maxPathParams {
		values[depth] = seg
		if leaf := n.param.lookup(rest, values, depth+1); leaf != nil {
			return leaf
		}
	}
	return nil
}

// plainPath reports whether the trie may match the escaped path: it begins
// with a slash and has no percent-encoding, fragment, empty or dot segment,
// and no trailing slash (the library then tries its regular expressions).
func plainPath(r *http.Request, escaped string) bool {
	if r.URL.Fragment != "" || len(escaped) < 1 || escaped[0] != '/' {
		return false
	}
	if escaped == "/" {
		return true
	}
	if escaped[len(escaped)-1] == '/' || strings.IndexByte(escaped, '%') >= 0 {
		return false
	}
	for i := 0; i+1 < len(escaped); i++ {
		if escaped[i] == '/' && (escaped[i+1] == '/' || escaped[i+1] == '.') {
			return false
		}
	}
	return true
}

// plainMethod reports whether operationFor knows the method.
func plainMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions,
		http.MethodHead, http.MethodPatch, http.MethodTrace:
		return true
	}
	return false
}

// operationFor is the operation of item for a method plainMethod knows; HEAD
// falls back to GET, as in the library.
func operationFor(item *v3.PathItem, method string) *v3.Operation {
	switch method {
	case http.MethodGet:
		return item.Get
	case http.MethodPut:
		return item.Put
	case http.MethodPost:
		return item.Post
	case http.MethodDelete:
		return item.Delete
	case http.MethodOptions:
		return item.Options
	case http.MethodHead:
		if item.Head != nil {
			return item.Head
		}
		return item.Get
	case http.MethodPatch:
		return item.Patch
	}
	return item.Trace
}

// libraryBase is the base path the library's path-only router strips for
// a server URL: the URL's path, read after the host when url.Parse refuses
// a template in the scheme, host or port.
func libraryBase(serverURL string) string {
	if u, err := url.Parse(serverURL); err == nil {
		return u.Path
	}
	_, p, found := strings.Cut(strings.Replace(serverURL, "//", "", 1), "/")
	if !found {
		return ""
	}
	if u, err := url.Parse("/" + strings.TrimPrefix(p, "/")); err == nil {
		return u.Path
	}
	return ""
}

// find matches a plain path: each server base path the path begins with is
// cut off in turn, as the library does (the whole path when none fits), and
// the first template with an operation for the method wins; a template
// without one answers 405. It fills m, and found is false when no template
// matched (the trie cannot decide then unless it is complete).
func (d *document) find(r *http.Request, escaped string, m *matched) (found bool) {
	tried, partial := false, false
	for i := 0; i <= len(d.libBases); i++ {
		candidate := escaped
		if i < len(d.libBases) {
			rest, ok := strings.CutPrefix(escaped, d.libBases[i])
			if !ok || rest != "" && rest[0] != '/' && !strings.HasSuffix(d.libBases[i], "/") {
				continue
			}
			candidate, tried = rest, true
		} else if tried {
			break
		}
		if !strings.HasPrefix(candidate, "/") {
			candidate = "/" + candidate
		}
		var values [maxPathParams]string
		leaf := d.trie.lookup(strings.Trim(candidate, "/"), &values, 0)
		if leaf == nil {
			continue
		}
		op := operationFor(leaf.item, r.Method)
		if op == nil && partial {
			continue // the first path without the method is the one kept
		}
		*m = matched{values: values}
		m.Route = router.Route{Document: d.model, Path: leaf.template, PathItem: leaf.item, Method: r.Method,
			Operation: op, RequestPath: candidate}
		if op != nil {
			return true
		}
		partial = true
	}
	return partial
}

// match finds r's operation, into m: the trie for a plain path and method,
// the library's router for any other. Either way the path must be reached
// through a server base path (onBase). err is router.ErrPathNotFound (m
// nil) or router.ErrMethodNotAllowed (m without operation).
func (d *document) match(r *http.Request, m *matched) (*matched, error) {
	escaped := r.URL.EscapedPath()
	if d.trie != nil && plainMethod(r.Method) && plainPath(r, escaped) {
		found := d.find(r, escaped, m)
		if found || d.trieComplete {
			if !found || !d.onBase(escaped, m.RequestPath) {
				return nil, router.ErrPathNotFound
			}
			m.byTrie = true
			if m.Operation == nil {
				return m, router.ErrMethodNotAllowed
			}
			return m, nil
		}
	}
	route, err := d.router.FindRoute(r)
	if route != nil && !d.onBase(escaped, route.RequestPath) {
		return nil, router.ErrPathNotFound
	}
	if err != nil {
		if errors.Is(err, router.ErrMethodNotAllowed) && route != nil {
			*m = matched{Route: *route}
			return m, router.ErrMethodNotAllowed
		}
		return nil, router.ErrPathNotFound
	}
	*m = matched{Route: *route}
	return m, nil
}
