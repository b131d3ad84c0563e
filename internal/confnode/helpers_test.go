package confnode

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// at follows a path like "http.routers.blog.tls.domains[0].main" from n.
func at(t *testing.T, n *dynamic.Node, path string) *dynamic.Node {
	t.Helper()
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
		}
		if name != "" {
			next := n.Get(name)
			if next == nil {
				t.Fatalf("no key %q on the way to %s", name, path)
			}
			n = next
		}
		if idx >= 0 {
			if n.Kind != dynamic.List || idx >= len(n.Items) {
				t.Fatalf("%s: no item %d in %v", path, idx, n.Kind)
			}
			n = n.Items[idx]
		}
	}
	return n
}

func pos(n *dynamic.Node) string { return fmt.Sprintf("%d:%d", n.Src.Line, n.Src.Col) }

// shape prints a tree without positions, to compare what two formats produced.
func shape(n *dynamic.Node) string {
	var b strings.Builder
	var walk func(*dynamic.Node)
	walk = func(n *dynamic.Node) {
		switch n.Kind {
		case dynamic.Scalar:
			b.WriteString(strconv.Quote(n.Value))
		case dynamic.List:
			b.WriteByte('[')
			for i, it := range n.Items {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(it)
			}
			b.WriteByte(']')
		case dynamic.Map:
			b.WriteByte('{')
			for i, e := range n.Entries {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(e.Key + ":")
				walk(e.Value)
			}
			b.WriteByte('}')
		}
	}
	walk(n)
	return b.String()
}

// posCase checks the value and the position of one key.
type posCase struct {
	path, value, pos string
}

func checkPositions(t *testing.T, n *dynamic.Node, cases []posCase) {
	t.Helper()
	for _, c := range cases {
		got := at(t, n, c.path)
		if c.value != "" && (got.Kind != dynamic.Scalar || got.Value != c.value) {
			t.Errorf("%s = %v %q; want %q", c.path, got.Kind, got.Value, c.value)
		}
		if pos(got) != c.pos {
			t.Errorf("%s at %s; want %s", c.path, pos(got), c.pos)
		}
		if got.Src.File == "" {
			t.Errorf("%s: no file in source", c.path)
		}
	}
}
