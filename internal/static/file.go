package static

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/wharfproxy/wharf/internal/confnode"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// ConfigSearchPath is where wharf looks for its configuration file when neither --config
// nor WHARF_CONFIG names one: the first that exists is read; none is fine (defaults,
// environment and flags only).
func ConfigSearchPath() []string { return []string{"/etc/wharf/wharf.yml", "wharf.yml"} }

// configChoice is the file to read and who chose it.
type configChoice struct {
	path     string
	explicit bool           // named by --config or WHARF_CONFIG: it must exist
	src      dynamic.Source // the flag or variable that named it
}

// findConfig picks the file: the flag, else the variable, else the first of search that
// exists. A file in search that exists but cannot be examined is an error, not skipped:
// silently starting without the operator's configuration would be worse.
func findConfig(flag, env configChoice, search []string) (configChoice, *dynamic.Error) {
	for _, c := range []configChoice{flag, env} {
		if c.path != "" {
			c.explicit = true
			return c, nil
		}
	}
	for _, p := range search {
		_, err := os.Stat(p)
		if err == nil {
			return configChoice{path: p}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return configChoice{}, &dynamic.Error{Source: dynamic.Source{File: p}, Msg: fmt.Sprintf("cannot read the configuration file: %v", unwrapPath(err))}
		}
	}
	return configChoice{}, nil
}

// readFile reads and parses the configuration file into a layer. confnode caps its size,
// refuses what is not a regular file, and gives every value the line and column of its key.
// TOML is read too, since confnode reads it, although Traefik users mostly bring YAML.
func readFile(c configChoice) (*layer, dynamic.Errors) {
	fail := func(format string, args ...any) (*layer, dynamic.Errors) {
		e := &dynamic.Error{Source: dynamic.Source{File: c.path}, Msg: fmt.Sprintf(format, args...)}
		if c.explicit {
			e.Source, e.Value, e.HasVal = c.src, c.path, true
		}
		return nil, dynamic.Errors{e}
	}
	if !confnode.Supported(c.path) {
		return fail("the configuration file must be YAML (.yml, .yaml) or TOML (.toml)")
	}
	root, err := confnode.File(c.path)
	var de *dynamic.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail("the file does not exist; check the path")
	case errors.As(err, &de):
		return nil, dynamic.Errors{de}
	case err != nil:
		return fail("cannot read the file: %v", unwrapPath(err))
	}
	if root.Kind != dynamic.Map {
		return nil, dynamic.Errors{{Source: root.Src, Msg: "the configuration must be a map of options (entryPoints:, providers:, ...)"}}
	}
	fl := fileLayer{l: newLayer()}
	fl.walk(root, nil, nil)
	return fl.l, fl.errs
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileLayer flattens the file's tree into a layer.
type fileLayer struct {
	l    *layer
	errs dynamic.Errors
}

// walk flattens a map node. tokens are the keys so far (as written), for schema lookups.
func (f *fileLayer) walk(n *dynamic.Node, keys []string, tokens []string) {
	for _, e := range n.Entries {
		ks := append(append([]string(nil), keys...), strings.ToLower(e.Key))
		ts := append(append([]string(nil), tokens...), e.Key)
		key := strings.Join(ks, ".")
		src := e.Value.Src // the key's position (confnode's rule for map entries)
		if strings.ContainsAny(e.Key, ".\x00") || e.Key == "" {
			// A dot would split the key when the layers are merged.
			f.errs = append(f.errs, &dynamic.Error{Source: src, Path: strings.Join(ts, "."), Msg: "names in the static configuration cannot be empty or contain a dot"})
			continue
		}
		if prev, dup := f.l.srcs[key]; dup {
			f.errs = append(f.errs, &dynamic.Error{Source: src, Path: strings.Join(ts, "."), Msg: fmt.Sprintf("key %q is given twice (also at %s); keys are case-insensitive", e.Key, prev)})
			continue
		}
		v := e.Value
		switch {
		case v.Kind == dynamic.Map && len(v.Entries) > 0:
			f.l.section(key, e.Key, src)
			f.walk(v, ks, ts)
		case v.Kind != dynamic.List && isSwitchAt(ts) && isOn(v.Value):
			// `tlsChallenge: {}`, `ping:` or `api: true`: on, with defaults.
			f.l.section(key, e.Key, src)
			f.l.set(key+"."+enableKey, enableKey, &dynamic.Node{Kind: dynamic.Scalar, Value: "true", Src: src})
		case v.Kind == dynamic.Map: // `{}` for something else: nothing set
			f.l.set(key, e.Key, &dynamic.Node{Kind: dynamic.Scalar, Src: src})
		case v.Kind == dynamic.Scalar:
			f.l.set(key, e.Key, &dynamic.Node{Kind: dynamic.Scalar, Value: v.Value, Src: src})
		default:
			f.l.set(key, e.Key, v)
		}
	}
}

// isSwitchAt reports whether the option at tokens is an optional section.
func isSwitchAt(tokens []string) bool {
	r, err := resolve(tokens, func(s string) string { return s })
	return err == nil && isSwitch(r.leaf)
}
