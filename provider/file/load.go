package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/internal/confnode"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// fileState is what the provider remembers of one file: the configuration it contributed
// the last time it parsed, and the tree it came from (to name where things are defined).
type fileState struct {
	cfg   *dynamic.Configuration
	node  *dynamic.Node
	index sectionIndex // node's items, for the next version to compare with
	// tainted are the objects (section.name, lower case) that an error or a warning of
	// this version was about: the next version decodes them again, so it reports it again.
	tainted map[string]bool
}

// filePart is one file's contribution to a snapshot.
type filePart struct {
	path string
	cfg  *dynamic.Configuration
	node *dynamic.Node
}

// list returns the paths to read, as the user will see them in errors. It returns nil (not
// an empty list) when the directory cannot be listed, so Load can tell "no files" from
// "don't know".
func (p *Provider) list() ([]string, dynamic.Errors) {
	if p.cfg.Filename != "" {
		return []string{p.cfg.Filename}, nil
	}
	entries, err := os.ReadDir(p.cfg.Directory)
	if err != nil {
		return nil, dynamic.Errors{readError(p.cfg.Directory, err, "cannot list the directory")}
	}
	paths := []string{}
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() || !p.relevant(e.Name()) {
			continue
		}
		paths = append(paths, filepath.Join(p.cfg.Directory, e.Name()))
	}
	return paths, nil
}

// relevant reports whether a name in the watched directory is one of ours. Hidden files are
// skipped: editors keep lock and swap files there (emacs's .#dynamic.yml is a dangling
// symlink), and a half-saved copy must not become configuration.
func (p *Provider) relevant(name string) bool {
	base := filepath.Base(name)
	if p.cfg.Filename != "" {
		return base == filepath.Base(p.cfg.Filename)
	}
	return !strings.HasPrefix(base, ".") && confnode.Supported(base)
}

// triggers reports whether an event on name calls for a reload: one of our files, or the
// "..data" symlink that Kubernetes swaps atomically when a mounted ConfigMap changes (the
// files themselves are symlinks through it and see no event of their own).
func (p *Provider) triggers(name string) bool {
	return p.relevant(name) || filepath.Base(name) == "..data"
}

// loadFile reads one file. What it returns depends on how the file fails; see the package
// documentation. The returned part has a nil cfg when the file contributes nothing.
func (p *Provider) loadFile(path string) (filePart, dynamic.Errors) {
	prev := p.files[path]
	node, err := parse(path, prev != nil)
	switch {
	case errors.Is(err, fs.ErrNotExist) && prev != nil:
		delete(p.files, path)
		return filePart{}, dynamic.Errors{removedWarning(path)}
	case err != nil && prev != nil:
		// Most likely caught mid-save: serve the last version that parsed until it is fixed.
		e := readError(path, err, "cannot read the file")
		e.Msg += "; the last good version of this file is still served"
		return filePart{path: path, cfg: prev.cfg, node: prev.node}, dynamic.Errors{e}
	case err != nil:
		return filePart{}, dynamic.Errors{readError(path, err, "cannot read the file")}
	}
	setProvider(node, Name)
	cfg := &dynamic.Configuration{}
	pruned, kept, index := pruneUnchanged(node, prev)
	errs := dynamic.Decode(pruned, cfg)
	kept.restore(cfg) // before dropBroken, which picks the longest name among all objects
	dropBroken(cfg, errs)
	p.files[path] = &fileState{cfg: cfg, node: node, index: index, tainted: taintedObjects(errs)}
	return filePart{path: path, cfg: cfg, node: node}, errs
}

// parse reads a file, and also refuses what is most likely a file caught mid-write rather
// than what the user meant: a document that is not a map (a truncated "htt"), and, when the
// file had a good version, a file of zero bytes (the moment between an editor's truncate
// and its write). Such a file keeps its last good version, with the error or a warning.
func parse(path string, hadGood bool) (*dynamic.Node, error) {
	node, err := confnode.File(path)
	if err != nil {
		return nil, err
	}
	if node.Kind != dynamic.Map {
		return nil, &dynamic.Error{Source: node.Src, Msg: "the file must hold a map of sections, such as http: and tls:"}
	}
	if hadGood && len(node.Entries) == 0 {
		if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
			return nil, &dynamic.Error{Source: node.Src, Msg: "file is empty (being written?); delete it to withdraw what it defined", Warning: true}
		}
	}
	return node, nil
}

// readError makes err a *dynamic.Error that names path. Parse errors already are one.
func readError(path string, err error, what string) *dynamic.Error {
	var de *dynamic.Error
	if errors.As(err, &de) {
		c := *de // confnode's error is ours to keep, but do not alias it
		c.Source.Provider = Name
		return &c
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in the source
	}
	return &dynamic.Error{Source: dynamic.Source{Provider: Name, File: path}, Msg: what + ": " + err.Error()}
}

// setProvider marks every node as coming from this provider, so the Sources the decoder
// copies into routers and services say "file".
func setProvider(n *dynamic.Node, name string) {
	n.Src.Provider = name
	for _, e := range n.Entries {
		setProvider(e.Value, name)
	}
	for _, it := range n.Items {
		setProvider(it, name)
	}
}

// dropBroken removes every named object (and TLS certificate) that an error points into.
// The decoder keeps whatever decoded, so a router whose priority was "high" would
// otherwise be served with priority 0, and a middleware with a misspelled option would run
// with its default: failing closed means leaving the whole object out. Errors outside any
// object (an unknown top-level key) drop nothing, because nothing was decoded from there.
func dropBroken(cfg *dynamic.Configuration, errs dynamic.Errors) {
	for _, e := range errs {
		if e.Path == "" || e.Warning {
			continue
		}
		for _, s := range sections {
			// Names may contain dots ("my.router"): the longest name that prefixes the
			// path is the object the error is in.
			best, found := "", false
			for _, name := range s.names(cfg) {
				if inside(e.Path, s.path()+"."+name) && (!found || len(name) > len(best)) {
					best, found = name, true
				}
			}
			if found {
				s.remove(cfg, best)
			}
		}
	}
	dropBrokenCertificates(cfg, errs)
}

func dropBrokenCertificates(cfg *dynamic.Configuration, errs dynamic.Errors) {
	if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 {
		return
	}
	kept := cfg.TLS.Certificates[:0:0]
	for i, c := range cfg.TLS.Certificates {
		prefix := "tls.certificates[" + strconv.Itoa(i) + "]"
		broken := false
		for _, e := range errs {
			broken = broken || (!e.Warning && inside(e.Path, prefix))
		}
		if !broken {
			kept = append(kept, c)
		}
	}
	cfg.TLS.Certificates = kept
}

// inside reports whether the dotted path is prefix or lies below it. Keys are compared
// without case, like the decoder matches them.
func inside(path, prefix string) bool {
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '.' || path[len(prefix)] == '['
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
