package static

import (
	"fmt"
	"sort"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// A layer is one source of static configuration (the file, the environment, the flags)
// flattened to lowercase dotted keys, which koanf merges in order of precedence. Lowercase
// keys are what make `entryPoints` in the file and WHARF_ENTRYPOINTS_... the same option.
//
// Koanf only holds values. Each layer also remembers, per key, how it was spelled and where
// it was written, so the merged tree handed to dynamic.Decode can still say
// "wharf.yml:12:5" or "--log.level".
type layer struct {
	leaves map[string]*dynamic.Node  // key -> the value (Scalar, or a whole List)
	spell  map[string]string         // key (leaf or section) -> its last part as written
	srcs   map[string]dynamic.Source // key (leaf or section) -> where it was first written
	lists  map[string][]dynamic.Dotted
}

// enableKey marks "this optional section is on" (`--providers.docker`, `tlsChallenge: {}`)
// without a value at the section's own key. Were it stored as providers.docker=true, a
// higher layer turning the section on would wipe the options a lower layer set inside it.
// The NUL byte cannot occur in a key that reaches a layer.
const enableKey = "\x00on"

func newLayer() *layer {
	return &layer{
		leaves: map[string]*dynamic.Node{},
		spell:  map[string]string{},
		srcs:   map[string]dynamic.Source{},
		lists:  map[string][]dynamic.Dotted{},
	}
}

// section records a section key (one that holds others).
func (l *layer) section(key, spell string, src dynamic.Source) {
	if _, ok := l.spell[key]; !ok {
		l.spell[key] = spell
		l.srcs[key] = src
	}
}

// set records a leaf. It reports the source that already set the same key, if one did.
func (l *layer) set(key, spell string, n *dynamic.Node) (dynamic.Source, bool) {
	if prev, dup := l.leaves[key]; dup {
		return prev.Src, true
	}
	l.leaves[key] = n
	l.section(key, spell, n.Src)
	return dynamic.Source{}, false
}

// setValue records a leaf for a resolved environment variable or flag, turning a bare
// "on" for an optional section into the enable marker.
func (l *layer) setValue(r resolved, value string, src dynamic.Source) *dynamic.Error {
	segs := r.segs
	for i := range segs[:len(segs)-1] {
		if strings.HasSuffix(segs[i].key, "]") {
			l.addListItem(r, i, value, src)
			return nil
		}
		l.section(joinKeys(segs[:i+1]), segs[i].spell, src)
	}
	key, last := r.key(), segs[len(segs)-1].spell
	n := &dynamic.Node{Kind: dynamic.Scalar, Value: value, Src: src}
	if isSwitch(r.leaf) && isOn(value) {
		l.section(key, last, src)
		key, last = key+"."+enableKey, enableKey
	}
	if prev, dup := l.set(key, last, n); dup {
		return &dynamic.Error{Source: src, Msg: fmt.Sprintf("%s is set twice (also by %s); give it once", r.spelled(), prev)}
	}
	return nil
}

// addListItem keeps an indexed value (domains[0].main) for finishLists: a list is one value
// in koanf, so that a list from a higher layer replaces a lower one whole instead of
// mixing items.
func (l *layer) addListItem(r resolved, at int, value string, src dynamic.Source) {
	name, _, _ := strings.Cut(r.segs[at].key, "[")
	owner := joinKeys(append(r.segs[:at:at], segment{key: name}))
	parts := make([]string, 0, len(r.segs)-at)
	for _, s := range r.segs[at:] {
		parts = append(parts, s.spell)
	}
	l.lists[owner] = append(l.lists[owner], dynamic.Dotted{Key: strings.Join(parts, "."), Value: value, Src: src})
}

// finishLists turns the indexed values gathered by addListItem into one List per list.
func (l *layer) finishLists() dynamic.Errors {
	var errs dynamic.Errors
	for _, owner := range sortedStrings(l.lists) {
		pairs := l.lists[owner]
		tree, perrs := dynamic.FromDotted(pairs)
		errs = append(errs, perrs...)
		if len(perrs) > 0 || len(tree.Entries) != 1 {
			continue
		}
		list := tree.Entries[0]
		list.Value.Src = pairs[0].Src
		name, _, _ := strings.Cut(list.Key, "[")
		if _, dup := l.set(owner, name, list.Value); dup {
			errs = append(errs, &dynamic.Error{Source: pairs[0].Src, Msg: "the list is also given whole; give either the list or its items"})
		}
	}
	return errs
}

func joinKeys(segs []segment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.key
	}
	return strings.Join(parts, ".")
}

// isOn reports whether a value written for an optional section turns it on with defaults.
func isOn(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || strings.EqualFold(v, "true")
}

// conflicts finds keys of one layer where a value and options below it are both set
// (--api=false --api.dashboard=true): koanf would keep one of them by chance.
func (l *layer) conflicts() dynamic.Errors {
	var errs dynamic.Errors
	for _, key := range sortedStrings(l.leaves) {
		for i := 0; i < len(key); i++ {
			if key[i] != '.' {
				continue
			}
			if parent, ok := l.leaves[key[:i]]; ok {
				errs = append(errs, &dynamic.Error{Source: l.leaves[key].Src, Msg: fmt.Sprintf("conflicts with %s, which sets the section it belongs to; give one of them", parent.Src)})
				delete(l.leaves, key) // reported; keep only the section's own value
				break
			}
		}
	}
	return errs
}

// flat is the layer as koanf reads it: leaf keys to plain values.
func (l *layer) flat() map[string]any {
	m := make(map[string]any, len(l.leaves))
	for k, n := range l.leaves {
		m[k] = plain(n)
	}
	return m
}

func plain(n *dynamic.Node) any {
	switch n.Kind {
	case dynamic.List:
		items := make([]any, len(n.Items))
		for i, it := range n.Items {
			items[i] = plain(it)
		}
		return items
	case dynamic.Map:
		m := make(map[string]any, len(n.Entries))
		for _, e := range n.Entries {
			m[strings.ToLower(e.Key)] = plain(e.Value)
		}
		return m
	}
	return n.Value
}

// merge layers the sources with koanf (later layers win) and rebuilds one tree with the
// spelling and source of every key, ready for dynamic.Decode.
func merge(layers []*layer, rootSrc dynamic.Source) (*dynamic.Node, error) {
	k := koanf.New(".")
	for _, l := range layers {
		if err := k.Load(confmap.Provider(l.flat(), "."), nil); err != nil {
			return nil, fmt.Errorf("merging the configuration: %w", err)
		}
	}
	b := builder{layers: layers}
	return b.section(k.Raw(), "", rootSrc), nil
}

type builder struct{ layers []*layer }

func (b builder) section(raw map[string]any, key string, src dynamic.Source) *dynamic.Node {
	n := &dynamic.Node{Kind: dynamic.Map, Src: src}
	for _, name := range sortedStrings(raw) {
		if name == enableKey {
			continue
		}
		ck := name
		if key != "" {
			ck = key + "." + name
		}
		var child *dynamic.Node
		if sub, ok := raw[name].(map[string]any); ok {
			child = b.section(sub, ck, b.src(ck))
			if _, on := sub[enableKey]; on && len(child.Entries) == 0 {
				// Only turned on: a bare "true" decodes into the section with its defaults.
				child = &dynamic.Node{Kind: dynamic.Scalar, Value: "true", Src: b.leaf(ck + "." + enableKey).Src}
			}
		} else {
			child = b.leaf(ck)
		}
		n.Entries = append(n.Entries, dynamic.Entry{Key: b.spelling(ck, name), Value: child})
	}
	return n
}

// leaf returns the value koanf kept for key: the one of the highest layer that set it.
func (b builder) leaf(key string) *dynamic.Node {
	for i := len(b.layers) - 1; i >= 0; i-- {
		if n, ok := b.layers[i].leaves[key]; ok {
			return n
		}
	}
	return &dynamic.Node{Kind: dynamic.Scalar}
}

// src of a section is where it was first written, the file before the environment: a
// line and column is the most useful place to point at.
func (b builder) src(key string) dynamic.Source {
	for _, l := range b.layers {
		if s, ok := l.srcs[key]; ok {
			return s
		}
	}
	return dynamic.Source{}
}

func (b builder) spelling(key, lower string) string {
	for _, l := range b.layers {
		if s, ok := l.spell[key]; ok {
			return s
		}
	}
	return lower
}

func sortedStrings[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
