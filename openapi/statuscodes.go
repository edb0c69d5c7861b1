package openapi

import (
	"bytes"
	"fmt"
	"sort"
	"unicode/utf8"

	yaml "github.com/pb33f/go-yaml"
)

// quoteStatusCodes quotes the response status codes a YAML document writes as
// bare numbers (`200:` under an operation's responses). OpenAPI asks for
// string keys there, and the validator's document check refuses a number, but
// many real documents write them bare and every reader takes them as the
// string: so does api_openapi, and it says which it quoted (as "line N: 204").
// The quotes go in place, so every line keeps its number for later errors.
// Anything else that is not plain stays as it is, for the check to judge.
func quoteStatusCodes(data []byte) ([]byte, []string) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return data, nil
	}
	var keys []*yaml.Node
	for _, op := range operations(&root) {
		if resp := mapValue(op, "responses"); resp != nil {
			for i := 0; i+1 < len(resp.Content); i += 2 {
				if k := resp.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!int" && isStatusCode(k.Value) {
					keys = append(keys, k)
				}
			}
		}
	}
	if len(keys) == 0 {
		return data, nil
	}
	// From the end, so earlier offsets stay true.
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Line > keys[j].Line || keys[i].Line == keys[j].Line && keys[i].Column > keys[j].Column
	})
	lines := bytes.SplitAfter(data, []byte("\n"))
	var quoted []string
	for _, k := range keys {
		if k.Line < 1 || k.Line > len(lines) {
			continue
		}
		line := lines[k.Line-1]
		at := byteOffset(line, k.Column-1)
		if at < 0 || !bytes.HasPrefix(line[at:], []byte(k.Value)) {
			continue
		}
		fixed := make([]byte, 0, len(line)+2)
		fixed = append(fixed, line[:at]...)
		fixed = append(fixed, '"')
		fixed = append(fixed, k.Value...)
		fixed = append(fixed, '"')
		lines[k.Line-1] = append(fixed, line[at+len(k.Value):]...)
		quoted = append(quoted, fmt.Sprintf("line %d: %s", k.Line, k.Value))
	}
	sort.Strings(quoted)
	return bytes.Join(lines, nil), quoted
}

// operations returns the operation mappings under the document's paths.
func operations(root *yaml.Node) []*yaml.Node {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	paths := mapValue(doc, "paths")
	if paths == nil || paths.Kind != yaml.MappingNode {
		return nil
	}
	var ops []*yaml.Node
	for i := 1; i < len(paths.Content); i += 2 {
		item := paths.Content[i]
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if isMethodKey(item.Content[j].Value) && item.Content[j+1].Kind == yaml.MappingNode {
				ops = append(ops, item.Content[j+1])
			}
		}
	}
	return ops
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func isMethodKey(s string) bool {
	switch s {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// isStatusCode: three digits, 100 to 599.
func isStatusCode(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// byteOffset returns the byte offset of the col-th character (from 0) of
// line, or -1.
func byteOffset(line []byte, col int) int {
	at := 0
	for range col {
		if at >= len(line) {
			return -1
		}
		_, size := utf8.DecodeRune(line[at:])
		at += size
	}
	return at
}
