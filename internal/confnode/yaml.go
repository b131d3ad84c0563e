// Package confnode turns configuration files into dynamic.Node trees that keep the line and
// column of every key, so that the one strict decoder in router/dynamic can name
// file:line:col in its errors whatever the format.
package confnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// YAML parses one YAML document. An empty document yields an empty map. Syntax errors are
// returned as *dynamic.Error with the file and line.
func YAML(data []byte, file string) (*dynamic.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &dynamic.Node{Kind: dynamic.Map, Src: dynamic.Source{File: file}}, nil
		}
		return nil, yamlError(err, file)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &dynamic.Error{Source: dynamic.Source{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a second YAML document (---) is not supported; use one document per file"}
	}
	if len(doc.Content) == 0 {
		return &dynamic.Node{Kind: dynamic.Map, Src: dynamic.Source{File: file}}, nil
	}
	return convertYAML(doc.Content[0], file, 0)
}

var yamlLine = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: (.*)`)

func yamlError(err error, file string) error {
	src := dynamic.Source{File: file}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		src.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			src.Col, _ = strconv.Atoi(m[2])
		}
		msg = m[3]
	}
	return &dynamic.Error{Source: src, Msg: "invalid YAML: " + msg}
}

const maxDepth = 64

func convertYAML(y *yaml.Node, file string, depth int) (*dynamic.Node, error) {
	src := dynamic.Source{File: file, Line: y.Line, Col: y.Column}
	if depth > maxDepth {
		return nil, &dynamic.Error{Source: src, Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	switch y.Kind {
	case yaml.AliasNode:
		return convertYAML(y.Alias, file, depth+1)
	case yaml.ScalarNode:
		v := y.Value
		if y.Tag == "!!null" {
			v = ""
		}
		return &dynamic.Node{Kind: dynamic.Scalar, Value: v, Src: src}, nil
	case yaml.SequenceNode:
		n := &dynamic.Node{Kind: dynamic.List, Src: src, Items: make([]*dynamic.Node, 0, len(y.Content))}
		for _, c := range y.Content {
			item, err := convertYAML(c, file, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, item)
		}
		return n, nil
	case yaml.MappingNode:
		n := &dynamic.Node{Kind: dynamic.Map, Src: src}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Tag == "!!merge" {
				merged, err := convertYAML(v, file, depth+1)
				if err != nil {
					return nil, err
				}
				n.Entries = append(n.Entries, mergeEntries(merged)...)
				continue
			}
			val, err := convertYAML(v, file, depth+1)
			if err != nil {
				return nil, err
			}
			// Errors about a key point at the key itself, not at its value.
			if val.Kind != dynamic.Scalar {
				val.Src.Line, val.Src.Col = k.Line, k.Column
			}
			n.Entries = append(n.Entries, dynamic.Entry{Key: k.Value, Value: val})
		}
		return n, nil
	}
	return nil, &dynamic.Error{Source: src, Msg: "unsupported YAML node"}
}

// mergeEntries returns the entries a `<<: *anchor` key brings in.
func mergeEntries(n *dynamic.Node) []dynamic.Entry {
	if n.Kind == dynamic.Map {
		return n.Entries
	}
	var out []dynamic.Entry
	for _, it := range n.Items {
		out = append(out, mergeEntries(it)...)
	}
	return out
}
