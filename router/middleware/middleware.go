// Package middleware holds every middleware type wharf offers: one file per type, and one
// entry per type in the registry below. A type decodes its own options from the
// configuration tree (the same for labels and files) when the table is compiled, and returns
// a constructor that wraps the next handler.
//
// Everything that can be worked out from the options is worked out when the table is
// compiled (regexps, CIDRs, lowercased names, header value slices), so the request path does
// as little as it can: most middlewares here add no allocation to a request.
package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
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
	// Transports is the process-wide pool of connection pools, for middlewares that call a
	// server of their own (forwardAuth), so a reload does not open new connections. When nil,
	// such a middleware makes a pool of its own.
	Transports *upstream.Transports
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

// Invalid reports a problem with one option at the place that option was written: the
// container and label, or file:line:col, with the option's full path (which names the
// middleware). key is dotted below the type ("ipStrategy.excludedIPs"); "" means the
// middleware as a whole. The value is deliberately not repeated, because it may be a secret
// (a password hash); say what is wrong in msg instead.
func (e *Env) Invalid(opts *dynamic.Node, key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if opts == nil {
		if key == "" {
			return errors.New(msg)
		}
		return fmt.Errorf("%s: %s", key, msg)
	}
	n, path := opts, e.Path
	for _, part := range strings.Split(key, ".") {
		if part == "" {
			continue
		}
		path += "." + part
		if c := n.Get(part); c != nil {
			n = c
		}
	}
	return dynamic.Errors{{Source: n.Src, Path: path, Msg: msg}}
}

// decodeOptional decodes options that may all be left at their defaults, so that
// `compress=true` (a label) and `compress: {}` (a file) both mean "on, with defaults".
func decodeOptional[T any](env *Env, opts *dynamic.Node, typ string) (*T, error) {
	var p *T
	if err := env.Decode(opts, &p); err != nil {
		return nil, err
	}
	if p == nil {
		if opts != nil && opts.Kind == dynamic.Scalar && strings.TrimSpace(opts.Value) != "" {
			return nil, env.Invalid(opts, "", "%s=false declares nothing: a middleware cannot be switched off, remove it from the routers instead", typ)
		}
		p = new(T)
	}
	return p, nil
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
		basicAuthType,
		bufferingType,
		chainType,
		circuitBreakerType,
		compressType,
		contentTypeType,
		digestAuthType,
		errorsType,
		forwardAuthType,
		headersType,
		inFlightReqType,
		ipAllowListType,
		ipWhiteListType,
		rateLimitType,
		redirectRegexType,
		redirectSchemeType,
		replacePathType,
		replacePathRegexType,
		retryType,
		stripPrefixType,
		stripPrefixRegexType,
	}
}

// notSupported are Traefik middleware types wharf does not have, so that a migrated
// configuration gets a clear answer instead of a guess.
var notSupported = map[string]string{
	"passtlsclientcert": "passTLSClientCert",
	"grpcweb":           "grpcWeb",
	"plugin":            "plugin",
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
	if t, ok := notSupported[strings.ToLower(name)]; ok {
		return fmt.Errorf("middleware type %q is Traefik's, and wharf does not support it", t)
	}
	return fmt.Errorf("unknown middleware type %q%s", name, dynamic.DidYouMean(name, Names()))
}
