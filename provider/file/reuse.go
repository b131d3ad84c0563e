package file

import (
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// A reload mostly changes one object of many. Decoding every object again was the largest
// cost of a reload after parsing, and every new object then made the comparisons further
// on (this provider's, the aggregator's) look inside it. So an object whose node tree is the
// same as in the last version of the file, positions included, is not decoded again: the
// last version's object, which decoding it would reproduce, is kept. Objects are never
// modified after decoding, so the versions can share them, and the comparisons pass over a
// shared object at once.
//
// Only objects the last version decoded without error are kept (an object with an error
// was dropped, so it is not in the last configuration), so the errors reported are the
// same as if everything were decoded. A section that has two names differing only in case
// is decoded whole, so the decoder still reports the pair.

// sectionIndex maps a section's path to its items' nodes by name.
type sectionIndex map[string]map[string]*dynamic.Node

// keptObjects are the objects carried over from the last version, by section.
type keptObjects []keptSection

type keptSection struct {
	s    section
	objs map[string]any
}

// pruneUnchanged returns the tree to decode (root without the unchanged objects), the
// objects kept in their place, and the index of root's objects for the next version.
func pruneUnchanged(root *dynamic.Node, prev *fileState) (*dynamic.Node, keptObjects, sectionIndex) {
	index := sectionIndex{}
	var kept keptObjects
	pruned := root
	for _, s := range sections {
		keys := strings.Split(s.path(), ".")
		items, ok := itemIndex(nodeAt(root, keys))
		if !ok {
			continue
		}
		index[s.path()] = items
		if prev == nil || prev.index[s.path()] == nil {
			continue
		}
		before := prev.index[s.path()]
		same := make(map[string]any, len(items))
		for name, n := range items {
			if len(prev.tainted) > 0 && prev.tainted[strings.ToLower(s.path()+"."+name)] {
				continue // it had an error or a warning: decode it again, to report it again
			}
			if old, ok := s.lookup(prev.cfg, name); ok && sameNode(n, before[name]) {
				same[name] = old
			}
		}
		if len(same) == 0 {
			continue
		}
		kept = append(kept, keptSection{s, same})
		pruned = replaceAt(pruned, keys, func(n *dynamic.Node) *dynamic.Node {
			c := *n
			c.Entries = make([]dynamic.Entry, 0, len(n.Entries)-len(same))
			for _, e := range n.Entries {
				if _, ok := same[e.Key]; !ok {
					c.Entries = append(c.Entries, e)
				}
			}
			return &c
		})
	}
	return pruned, kept, index
}

// taintedObjects lists, for each error or warning with a path, every object it may be
// about: names may contain dots, so each prefix of the path after a section's, ending at a
// dot or a bracket, is one.
func taintedObjects(errs dynamic.Errors) map[string]bool {
	var out map[string]bool
	for _, e := range errs {
		if e.Path == "" {
			continue
		}
		path := strings.ToLower(e.Path)
		for _, s := range sections {
			prefix := strings.ToLower(s.path()) + "."
			if !strings.HasPrefix(path, prefix) {
				continue
			}
			if out == nil {
				out = map[string]bool{}
			}
			for i := len(prefix); i <= len(path); i++ {
				if i == len(path) || path[i] == '.' || path[i] == '[' {
					out[path[:i]] = true
				}
			}
		}
	}
	return out
}

// restore puts the kept objects into the decoded configuration.
func (k keptObjects) restore(cfg *dynamic.Configuration) {
	for _, ks := range k {
		ks.s.reserve(cfg, len(ks.objs))
		for name, v := range ks.objs {
			ks.s.put(cfg, name, v)
		}
	}
}

// nodeAt follows keys as the decoder does: the first key that matches without case.
func nodeAt(n *dynamic.Node, keys []string) *dynamic.Node {
	for _, k := range keys {
		n = n.Get(k)
	}
	return n
}

// itemIndex indexes a section's items by name. It refuses (ok false) a section that is
// not a map or has names that differ only in case.
func itemIndex(n *dynamic.Node) (map[string]*dynamic.Node, bool) {
	if n == nil || n.Kind != dynamic.Map {
		return nil, false
	}
	out := make(map[string]*dynamic.Node, len(n.Entries))
	lower := make(map[string]bool, len(n.Entries))
	for _, e := range n.Entries {
		l := strings.ToLower(e.Key)
		if lower[l] {
			return nil, false
		}
		lower[l] = true
		out[e.Key] = e.Value
	}
	return out, true
}

// replaceAt returns a copy of root in which the node at keys (which must exist) is
// replaced by f of it; the nodes on the way are copied, root is not modified.
func replaceAt(root *dynamic.Node, keys []string, f func(*dynamic.Node) *dynamic.Node) *dynamic.Node {
	if len(keys) == 0 {
		return f(root)
	}
	c := *root
	c.Entries = append([]dynamic.Entry(nil), root.Entries...)
	for i, e := range c.Entries {
		if strings.EqualFold(e.Key, keys[0]) {
			c.Entries[i].Value = replaceAt(e.Value, keys[1:], f)
			break
		}
	}
	return &c
}

// sameNode reports whether two trees say the same thing at the same places.
func sameNode(a, b *dynamic.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || a.Value != b.Value || a.Src != b.Src || len(a.Entries) != len(b.Entries) || len(a.Items) != len(b.Items) {
		return false
	}
	for i, e := range a.Entries {
		if e.Key != b.Entries[i].Key || !sameNode(e.Value, b.Entries[i].Value) {
			return false
		}
	}
	for i, it := range a.Items {
		if !sameNode(it, b.Items[i]) {
			return false
		}
	}
	return true
}
