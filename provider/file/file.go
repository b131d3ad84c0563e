// Package file is the file provider: dynamic configuration written in YAML or TOML, in one
// file or in a directory of files, watched for changes. It reads Traefik's dynamic file
// format (providers.file.filename / .directory / .watch).
//
// Files are untrusted and often caught mid-edit, so a file is isolated from the others and
// from its own bad parts:
//
//   - A file that does not parse at all (half-written, a stray tab) keeps contributing the
//     last version of it that did parse; the syntax error is reported with file:line:col.
//     So does a file that parses to something other than a map, and a file of zero bytes
//     that had a good version: both are what a save looks like halfway through.
//   - A file that parses but has wrong keys or values contributes what decoded, minus every
//     router, service, middleware, transport, TLS option, store or certificate that an error
//     points into; the errors are reported.
//   - A deleted file withdraws what it defined, with a warning.
//   - A name defined differently in two files of a directory is reported with both places,
//     and both definitions are left out (identical definitions are merged).
//
// Every message is a full snapshot and an unchanged snapshot is never sent twice in a row.
package file

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/confnode"
	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// DefaultDebounce is how long the provider waits after the last file event before it
// reloads. An editor's save (write, rename, chmod) arrives within a few milliseconds, so 20ms
// turns one save into one reload while a file changed every 50ms is still applied every
// time; a save caught half-way fails to parse and the last good version keeps serving.
const DefaultDebounce = 20 * time.Millisecond

// Name is the provider's name: what it defines is qualified as name@file.
const Name = "file"

// Log field names.
const (
	logPath   = "path"
	logEvent  = "event"
	logErrors = "errors"
)

// Config is providers.file of the static configuration.
type Config struct {
	Filename  string        // one file; exclusive with Directory
	Directory string        // every *.yml, *.yaml and *.toml directly in it, by name order
	Watch     *bool         // nil: true
	Debounce  time.Duration // 0: DefaultDebounce
}

// Provider reads the configured files and, when watching, follows their changes.
type Provider struct {
	cfg Config
	log zerolog.Logger
	dir string // the directory that holds the file(s): what is watched

	mu    sync.Mutex            // Load may run from Provide and from `wharf check` at once
	files map[string]*fileState // by path as shown to the user

	reloads atomic.Int64 // Loads done, so tests can see that a burst made one reload
}

var _ provider.Provider = (*Provider)(nil)

// New checks cfg; nothing is read until Load or Provide.
func New(cfg Config, log zerolog.Logger) (*Provider, error) {
	switch {
	case cfg.Filename == "" && cfg.Directory == "":
		return nil, errors.New("set either filename or directory")
	case cfg.Filename != "" && cfg.Directory != "":
		return nil, errors.New("set filename or directory, not both")
	case cfg.Filename != "" && !confnode.Supported(cfg.Filename):
		return nil, errors.New("filename " + cfg.Filename + ": unsupported file type: use .yml, .yaml or .toml")
	case cfg.Debounce < 0:
		return nil, errors.New("debounce must not be negative")
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	dir := cfg.Directory
	if cfg.Filename != "" {
		dir = filepath.Dir(cfg.Filename)
	}
	return &Provider{cfg: cfg, log: log, dir: dir, files: map[string]*fileState{}}, nil
}

// Name returns "file".
func (p *Provider) Name() string { return Name }

func (p *Provider) watching() bool { return p.cfg.Watch == nil || *p.cfg.Watch }

// Load reads every file once and returns the snapshot: used by Provide for every reload,
// and by `wharf check` to validate files without serving them. It remembers each file's
// last good configuration, which later Loads fall back on.
func (p *Provider) Load() provider.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reloads.Add(1)
	paths, errs := p.list()
	var parts []filePart
	seen := make(map[string]bool, len(paths))
	for _, path := range paths {
		seen[path] = true
		part, fileErrs := p.loadFile(path)
		errs = append(errs, fileErrs...)
		if part.cfg != nil {
			parts = append(parts, part)
		}
	}
	if paths == nil {
		// The directory could not be listed: keep serving what its files last defined.
		parts = p.remembered()
	} else {
		errs = append(errs, p.forgetRemoved(seen)...)
	}
	cfg, mergeErrs := merge(parts)
	return provider.Message{Provider: Name, Config: cfg, Errors: append(errs, mergeErrs...)}
}

// remembered returns every file's last good contribution.
func (p *Provider) remembered() []filePart {
	var parts []filePart
	for _, path := range sortedKeys(p.files) {
		parts = append(parts, filePart{path: path, cfg: p.files[path].cfg, node: p.files[path].node})
	}
	return parts
}

// forgetRemoved drops the files that are no longer listed, with a warning for each.
func (p *Provider) forgetRemoved(listed map[string]bool) dynamic.Errors {
	var errs dynamic.Errors
	for _, path := range sortedKeys(p.files) {
		if !listed[path] {
			delete(p.files, path)
			errs = append(errs, removedWarning(path))
		}
	}
	return errs
}

// removedWarning says a file went away and took its definitions with it.
func removedWarning(path string) *dynamic.Error {
	return &dynamic.Error{
		Source:  dynamic.Source{Provider: Name, File: path},
		Msg:     "file was removed; what it defined is withdrawn",
		Warning: true,
	}
}
