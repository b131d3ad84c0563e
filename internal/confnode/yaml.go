// Package confnode turns configuration files into dynamic.Node trees that keep the line and
// column of every key, so that the one strict decoder in router/dynamic can name
// file:line:col in its errors whatever the format.
//
// Positions: the value of a map entry carries the position of its key (an error about
// `priority: high` points at `priority`, where the user looks for it); a list item carries
// its own position. Both formats follow this rule, so a YAML file and its TOML translation
// report errors the same way.
//
// Configuration files are untrusted input: they are size-capped (MaxSize), nesting is
// bounded (maxDepth), and YAML alias expansion is budgeted so a small file cannot expand
// into a huge tree.
package confnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// YAML parses one YAML document. An empty document yields an empty map. Syntax errors are
// returned as *dynamic.Error with the file and line.
func YAML(data []byte, file string) (*dynamic.Node, error) {
	if err := checkSize(len(data), file); err != nil {
		return nil, err
	}
	doc, err := parseYAML(data, file)
	if err != nil {
		return nil, err
	}
	if doc == nil || (doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		return emptyMap(file), nil // "", "---" and "~" all say: nothing configured
	}
	c := yamlConverter{file: file, budget: nodeBudget(len(data))}
	return c.convert(doc, 0)
}

// parseYAML runs the YAML parser. It returns a nil node for an empty document.
func parseYAML(data []byte, file string) (doc *yaml.Node, err error) {
	// yaml.v3 has panicked on malformed input before (CVE-2022-28948); a config file must
	// never take the process down, so a parser panic becomes a syntax error.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, &dynamic.Error{Source: dynamic.Source{File: file}, Msg: fmt.Sprintf("invalid YAML: parser failed: %v", r)}
		}
	}()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err, data, file)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &dynamic.Error{Source: dynamic.Source{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a second YAML document (---) is not supported; use one document per file"}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	return root.Content[0], nil
}

// emptyMap is what an empty file means: a configuration that defines nothing.
func emptyMap(file string) *dynamic.Node {
	return &dynamic.Node{Kind: dynamic.Map, Src: dynamic.Source{File: file}}
}

var (
	yamlLine   = regexp.MustCompile(`^yaml: line (\d+): (.*)`)
	yamlAnchor = regexp.MustCompile(`^yaml: (?:unknown anchor '(.*)' referenced|anchor '(.*)' value contains itself)`)
)

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to its scanner). For
// these it prints a zero-based line, or none for the first line; scanner messages are
// one-based. It cannot be told from the error any other way.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlError turns a yaml.v3 error into a *dynamic.Error with the best line it can find.
// yaml.v3 reports lines only, and for some errors the line where the enclosing block
// starts rather than the offending one; it is still the right place to start looking.
func yamlError(err error, data []byte, file string) error {
	src := dynamic.Source{File: file}
	msg := err.Error()
	switch m := yamlLine.FindStringSubmatch(msg); {
	case m != nil:
		src.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if yamlParserProblems[msg] {
			src.Line++
		}
	case yamlAnchor.MatchString(msg):
		// Composer errors carry no position: find the alias or anchor in the text.
		a := yamlAnchor.FindStringSubmatch(msg)
		mark := "*" + a[1]
		if a[1] == "" {
			mark = "&" + a[2]
		}
		if i := bytes.Index(data, []byte(mark)); i >= 0 {
			src.Line, src.Col = newLocator(data).pos(i)
		}
	default:
		// No line printed: yaml.v3 was on the first line (it omits line 0).
		src.Line = 1
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &dynamic.Error{Source: src, Msg: "invalid YAML: " + msg}
}

// maxDepth bounds nesting. Real configurations are under ten levels deep; the bound keeps a
// hostile file (or a YAML alias that refers to itself) from recursing without end.
const maxDepth = 64

// nodeBudget is how many nodes a document of n bytes may expand to. Without aliases a
// document has at most about one node per byte; the slack allows ordinary reuse of anchors
// (`<<: *defaults` in every router) while refusing a "billion laughs" expansion.
func nodeBudget(n int) int { return 16*n + 1024 }

type yamlConverter struct {
	file   string
	budget int // nodes left to create; aliases are expanded, so this can run out
}

func (c *yamlConverter) convert(y *yaml.Node, depth int) (*dynamic.Node, error) {
	src := dynamic.Source{File: c.file, Line: y.Line, Col: y.Column}
	if depth > maxDepth {
		return nil, &dynamic.Error{Source: src, Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if c.budget--; c.budget < 0 {
		return nil, &dynamic.Error{Source: src, Msg: "aliases expand to too many values"}
	}
	switch y.Kind {
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, &dynamic.Error{Source: src, Msg: "unknown alias"}
		}
		return c.convert(y.Alias, depth+1)
	case yaml.ScalarNode:
		v := y.Value
		if y.Tag == "!!null" {
			v = ""
		}
		return &dynamic.Node{Kind: dynamic.Scalar, Value: v, Src: src}, nil
	case yaml.SequenceNode:
		n := &dynamic.Node{Kind: dynamic.List, Src: src, Items: make([]*dynamic.Node, 0, len(y.Content))}
		for _, it := range y.Content {
			item, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, item)
		}
		return n, nil
	case yaml.MappingNode:
		return c.mapping(y, src, depth)
	}
	return nil, &dynamic.Error{Source: src, Msg: "unsupported YAML node"}
}

// mapping converts a YAML mapping. Merge keys (`<<: *base`, `<<: [*a, *b]`) follow the YAML
// merge-key spec: keys written in the mapping itself win over merged ones wherever they
// appear, and among merged mappings the first one listed wins. Without this, a router that
// reuses `<<: *defaults` and overrides one key would be reported as setting it twice.
func (c *yamlConverter) mapping(y *yaml.Node, src dynamic.Source, depth int) (*dynamic.Node, error) {
	n := &dynamic.Node{Kind: dynamic.Map, Src: src}
	explicit := map[string]bool{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		if k := y.Content[i]; k.Tag != "!!merge" {
			explicit[strings.ToLower(resolveAlias(k).Value)] = true
		}
	}
	taken := map[string]bool{} // keys already in n, explicit or merged
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := resolveAlias(y.Content[i]), y.Content[i+1]
		if k.Tag == "!!merge" {
			merged, err := c.mergeValue(v, depth)
			if err != nil {
				return nil, err
			}
			for _, e := range merged {
				lower := strings.ToLower(e.Key)
				if explicit[lower] || taken[lower] {
					continue
				}
				taken[lower] = true
				n.Entries = append(n.Entries, e)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &dynamic.Error{Source: dynamic.Source{File: c.file, Line: k.Line, Col: k.Column}, Msg: "a key must be a plain value, not a list or a map"}
		}
		val, err := c.convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		// Errors about a key point at the key itself, not at its value.
		val.Src.Line, val.Src.Col = k.Line, k.Column
		taken[strings.ToLower(k.Value)] = true
		n.Entries = append(n.Entries, dynamic.Entry{Key: k.Value, Value: val})
	}
	return n, nil
}

// mergeValue returns the entries a `<<` key brings in: from one mapping, or from a list of
// mappings where the first to define a key wins.
func (c *yamlConverter) mergeValue(v *yaml.Node, depth int) ([]dynamic.Entry, error) {
	bad := &dynamic.Error{Source: dynamic.Source{File: c.file, Line: v.Line, Col: v.Column}, Msg: "a merge key (<<) takes a map or a list of maps"}
	switch resolveAlias(v).Kind {
	case yaml.MappingNode:
		m, err := c.convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		return m.Entries, nil
	case yaml.SequenceNode:
		var out []dynamic.Entry
		seen := map[string]bool{}
		for _, it := range resolveAlias(v).Content {
			if resolveAlias(it).Kind != yaml.MappingNode {
				return nil, bad
			}
			m, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			for _, e := range m.Entries {
				if lower := strings.ToLower(e.Key); !seen[lower] {
					seen[lower] = true
					out = append(out, e)
				}
			}
		}
		return out, nil
	}
	return nil, bad
}

// resolveAlias follows aliases to the node they name (a bounded number of hops: yaml.v3
// does not let an alias name another alias's anchor in a cycle, but be safe).
func resolveAlias(y *yaml.Node) *yaml.Node {
	for i := 0; i < maxDepth && y.Kind == yaml.AliasNode && y.Alias != nil; i++ {
		y = y.Alias
	}
	return y
}
