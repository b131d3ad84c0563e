// Package middleware holds every middleware type wharf offers: one file per type, and one
// entry per type in the registry below. A type decodes its own options from the
// configuration tree (the same for labels and files) when the table is compiled, and returns
// a constructor that wraps the next handler.
package middleware

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Middleware wraps the next handler of a router's chain.
type Middleware func(next http.Handler) http.Handler

// Env is what a middleware may use while it is built.
type Env struct {
	Name     string // qualified name, "auth@docker"
	Path     string // where its options are, "http.middlewares.auth@docker.basicAuth"
	Source   dynamic.Source
	Provider string // the provider that declared it: names without "@" refer to it
	Log      zerolog.Logger
	// Service returns a service's handler by name, for middlewares that call one (errors).
	Service func(name string) (http.Handler, error)
	// Middleware builds another middleware by name, for chain.
	Middleware func(name string) (Middleware, error)
}

// Qualify resolves a reference written in this middleware's options.
func (e *Env) Qualify(name string) string { return dynamic.Qualify(name, e.Provider) }

// Decode reads the options into out strictly; every problem names its source.
func (e *Env) Decode(opts *dynamic.Node, out any) error {
	if opts == nil {
		return nil
	}
	return dynamic.DecodeAt(opts, out, e.Path).Err()
}

// Type is one kind of middleware.
type Type struct {
	Name string // canonical spelling, Traefik's: "stripPrefix"
	New  func(env *Env, opts *dynamic.Node) (Middleware, error)
}

// registry lists every type. Adding a middleware is one file plus one line here.
func registry() []Type {
	return []Type{
		addPrefixType,
		stripPrefixType,
	}
}

var byName = func() map[string]Type {
	m := make(map[string]Type)
	for _, t := range registry() {
		m[strings.ToLower(t.Name)] = t
	}
	return m
}()

// Lookup finds a type by name, case-insensitively.
func Lookup(name string) (Type, bool) {
	t, ok := byName[strings.ToLower(name)]
	return t, ok
}

// Names lists the canonical type names, sorted.
func Names() []string {
	out := make([]string, 0, len(byName))
	for _, t := range byName {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

// UnknownTypeError explains a middleware type that does not exist.
func UnknownTypeError(name string) error {
	return fmt.Errorf("unknown middleware type %q%s", name, dynamic.DidYouMean(name, Names()))
}
