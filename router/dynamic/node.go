package dynamic

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is the shape of a Node.
type Kind uint8

const (
	Scalar Kind = iota + 1
	Map
	List
)

func (k Kind) String() string {
	switch k {
	case Scalar:
		return "a value"
	case Map:
		return "a map"
	case List:
		return "a list"
	}
	return "nothing"
}

// Node is one value of a configuration tree, with the place it was written. Every format
// wharf reads (YAML, TOML, labels, environment variables, flags) is turned into Nodes first,
// so one decoder, with one set of error messages, serves them all.
//
// A Map node may also carry a Value: labels allow `sticky.cookie=true` beside
// `sticky.cookie.name=x`.
type Node struct {
	Kind    Kind
	Value   string  // Scalar (and the optional value of a Map built from labels)
	Entries []Entry // Map, in the order written
	Items   []*Node // List
	Src     Source
}

// Entry is one key of a Map node.
type Entry struct {
	Key   string
	Value *Node
}

// Get returns the entry whose key equals key case-insensitively, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil {
		return nil
	}
	for _, e := range n.Entries {
		if strings.EqualFold(e.Key, key) {
			return e.Value
		}
	}
	return nil
}

// Dotted is one key=value pair of a flat configuration: a container label, an environment
// variable or a command-line flag, already stripped of its prefix.
type Dotted struct {
	Key   string // "http.routers.blog.tls.domains[0].main"
	Value string
	Src   Source
}

// FromDotted builds a tree from flat dotted keys. Keys are case-insensitive: the first
// spelling seen names the key. `name[N]` makes a list; indexes may come in any order but must
// be dense. Keys are processed in sorted order so the result never depends on map order.
func FromDotted(pairs []Dotted) (*Node, Errors) {
	sorted := append([]Dotted(nil), pairs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return strings.ToLower(sorted[i].Key) < strings.ToLower(sorted[j].Key)
	})
	root := &Node{Kind: Map}
	var errs Errors
	for _, p := range sorted {
		if err := insertDotted(root, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := densifyLists(root); err != nil {
		errs = append(errs, err...)
	}
	return root, errs
}

// listIndex marks children of a node under construction that will become list items.
const listMarker = "\x00list"

func insertDotted(root *Node, p Dotted) *Error {
	fail := func(msg string, args ...any) *Error {
		return &Error{Source: p.Src, Value: p.Value, HasVal: true, Msg: fmt.Sprintf(msg, args...)}
	}
	if p.Key == "" {
		return fail("empty key")
	}
	parts := strings.Split(p.Key, ".")
	cur := root
	for i, part := range parts {
		name, idx, err := splitIndex(part)
		if err != "" || name == "" {
			if err == "" {
				err = "empty key segment"
			}
			return fail("%s in %q", err, p.Key)
		}
		last := i == len(parts)-1
		child := cur.Get(name)
		if child == nil {
			child = &Node{Kind: Map, Src: p.Src}
			if idx < 0 && last {
				child.Kind = Scalar
			}
			cur.Entries = append(cur.Entries, Entry{Key: name, Value: child})
		}
		if idx >= 0 {
			// child holds list items keyed by their index until densifyLists runs.
			child.Value = listMarker
			key := strconv.Itoa(idx)
			item := child.Get(key)
			if item == nil {
				item = &Node{Kind: Map, Src: p.Src}
				if last {
					item.Kind = Scalar
				}
				child.Entries = append(child.Entries, Entry{Key: key, Value: item})
			}
			child = item
		}
		if last {
			if child.Kind == Scalar && child.Value != "" && child.Src != p.Src {
				return fail("key %q is set twice (also by %s)", p.Key, child.Src)
			}
			child.Value = p.Value
			child.Src = p.Src
			continue
		}
		if child.Kind == Scalar {
			// `a=true` and then `a.b=x`: a becomes a map that keeps its value.
			child.Kind = Map
		}
		cur = child
	}
	return nil
}

func splitIndex(part string) (name string, idx int, err string) {
	open := strings.IndexByte(part, '[')
	if open < 0 {
		return part, -1, ""
	}
	if !strings.HasSuffix(part, "]") {
		return "", 0, "unterminated index"
	}
	n, e := strconv.Atoi(part[open+1 : len(part)-1])
	if e != nil || n < 0 || n > 1000 {
		return "", 0, fmt.Sprintf("bad index %q", part[open:])
	}
	return part[:open], n, ""
}

func densifyLists(n *Node) Errors {
	var errs Errors
	for _, e := range n.Entries {
		errs = append(errs, densifyLists(e.Value)...)
	}
	if n.Value != listMarker {
		return errs
	}
	items := make([]*Node, len(n.Entries))
	for _, e := range n.Entries {
		i, _ := strconv.Atoi(e.Key)
		if i >= len(items) {
			return append(errs, &Error{Source: e.Value.Src, Msg: fmt.Sprintf("list index [%d] leaves a gap: indexes must run from 0 without holes", i)})
		}
		items[i] = e.Value
	}
	n.Kind, n.Value, n.Entries, n.Items = List, "", nil, items
	return errs
}
