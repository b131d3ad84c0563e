package file

import (
	"fmt"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// section is one map of named objects in a Configuration ("http.routers"). Files of a
// directory each add to the same sections; a section is where names must be unique.
type section interface {
	path() string
	names(c *dynamic.Configuration) []string // sorted
	get(c *dynamic.Configuration, name string) any
	lookup(c *dynamic.Configuration, name string) (any, bool) // like get, for a name that may be absent
	put(c *dynamic.Configuration, name string, v any)
	reserve(c *dynamic.Configuration, n int) // room for n more names, so a bulk of puts does not regrow the map
	remove(c *dynamic.Configuration, name string)
}

// mapSection is a section whose map field is reached through ptr (nil when a parent
// struct is absent and create is false).
type mapSection[T any] struct {
	at  string
	ptr func(c *dynamic.Configuration, create bool) *map[string]T
}

func (s mapSection[T]) path() string { return s.at }

func (s mapSection[T]) names(c *dynamic.Configuration) []string {
	if m := s.ptr(c, false); m != nil {
		return sortedKeys(*m)
	}
	return nil
}

func (s mapSection[T]) get(c *dynamic.Configuration, name string) any {
	return (*s.ptr(c, false))[name]
}

func (s mapSection[T]) lookup(c *dynamic.Configuration, name string) (any, bool) {
	m := s.ptr(c, false)
	if m == nil {
		return nil, false
	}
	v, ok := (*m)[name]
	return v, ok
}

func (s mapSection[T]) put(c *dynamic.Configuration, name string, v any) {
	m := s.ptr(c, true)
	if *m == nil {
		*m = map[string]T{}
	}
	(*m)[name] = v.(T)
}

func (s mapSection[T]) reserve(c *dynamic.Configuration, n int) {
	m := s.ptr(c, true)
	if *m == nil || len(*m) < n {
		grown := make(map[string]T, len(*m)+n)
		for k, v := range *m {
			grown[k] = v
		}
		*m = grown
	}
}

func (s mapSection[T]) remove(c *dynamic.Configuration, name string) {
	if m := s.ptr(c, false); m != nil {
		delete(*m, name)
	}
}

func httpOf(c *dynamic.Configuration, create bool) *dynamic.HTTPConfiguration {
	if c.HTTP == nil && create {
		c.HTTP = &dynamic.HTTPConfiguration{}
	}
	return c.HTTP
}

func tcpOf(c *dynamic.Configuration, create bool) *dynamic.TCPConfiguration {
	if c.TCP == nil && create {
		c.TCP = &dynamic.TCPConfiguration{}
	}
	return c.TCP
}

func udpOf(c *dynamic.Configuration, create bool) *dynamic.UDPConfiguration {
	if c.UDP == nil && create {
		c.UDP = &dynamic.UDPConfiguration{}
	}
	return c.UDP
}

func tlsOf(c *dynamic.Configuration, create bool) *dynamic.TLSConfiguration {
	if c.TLS == nil && create {
		c.TLS = &dynamic.TLSConfiguration{}
	}
	return c.TLS
}

// field builds a mapSection from the parent accessor and the map inside it.
func field[P, T any](at string, parent func(*dynamic.Configuration, bool) *P, m func(*P) *map[string]T) section {
	return mapSection[T]{at: at, ptr: func(c *dynamic.Configuration, create bool) *map[string]T {
		if p := parent(c, create); p != nil {
			return m(p)
		}
		return nil
	}}
}

// sections lists every named map of dynamic.Configuration. TestSectionsCoverConfiguration
// fails when the model gains one that is not listed here.
var sections = []section{
	field("http.routers", httpOf, func(h *dynamic.HTTPConfiguration) *map[string]*dynamic.Router { return &h.Routers }),
	field("http.services", httpOf, func(h *dynamic.HTTPConfiguration) *map[string]*dynamic.Service { return &h.Services }),
	field("http.middlewares", httpOf, func(h *dynamic.HTTPConfiguration) *map[string]*dynamic.Middleware { return &h.Middlewares }),
	field("http.serversTransports", httpOf, func(h *dynamic.HTTPConfiguration) *map[string]*dynamic.ServersTransport {
		return &h.ServersTransports
	}),
	field("tcp.routers", tcpOf, func(t *dynamic.TCPConfiguration) *map[string]*dynamic.TCPRouter { return &t.Routers }),
	field("tcp.services", tcpOf, func(t *dynamic.TCPConfiguration) *map[string]*dynamic.TCPService { return &t.Services }),
	field("tcp.middlewares", tcpOf, func(t *dynamic.TCPConfiguration) *map[string]*dynamic.Middleware { return &t.Middlewares }),
	field("udp.routers", udpOf, func(u *dynamic.UDPConfiguration) *map[string]*dynamic.UDPRouter { return &u.Routers }),
	field("udp.services", udpOf, func(u *dynamic.UDPConfiguration) *map[string]*dynamic.UDPService { return &u.Services }),
	field("tls.options", tlsOf, func(t *dynamic.TLSConfiguration) *map[string]*dynamic.TLSOptions { return &t.Options }),
	field("tls.stores", tlsOf, func(t *dynamic.TLSConfiguration) *map[string]*dynamic.TLSStore { return &t.Stores }),
}

// merge combines the files' configurations, in file-name order, into a new Configuration
// (the files' own are not modified: they are kept as the last good versions). HTTP and TLS
// are always present; TCP and UDP only when a file defines some.
func merge(parts []filePart) (*dynamic.Configuration, dynamic.Errors) {
	out := dynamic.NewConfiguration()
	var errs dynamic.Errors
	for _, s := range sections {
		errs = append(errs, mergeSection(s, parts, out)...)
	}
	for _, part := range parts {
		if part.cfg.TLS != nil {
			out.TLS.Certificates = append(out.TLS.Certificates, part.cfg.TLS.Certificates...)
		}
	}
	return out, errs
}

type definition struct {
	part  *filePart
	name  string
	value any
}

// mergeSection copies one section of every file into out. Names are case-insensitive, as
// everywhere in wharf. A name defined identically in several files (a shared middleware
// copied into each) is merged; defined differently, it is ambiguous, and guessing which one
// the user meant would silently serve the wrong one, so both are left out and reported.
func mergeSection(s section, parts []filePart, out *dynamic.Configuration) dynamic.Errors {
	var errs dynamic.Errors
	first := map[string]*definition{}
	var order []string
	conflicted := map[string]bool{}
	for i := range parts {
		part := &parts[i]
		for _, name := range s.names(part.cfg) {
			v, lower := s.get(part.cfg, name), strings.ToLower(name)
			d, dup := first[lower]
			if !dup {
				first[lower] = &definition{part: part, name: name, value: v}
				order = append(order, lower)
				continue
			}
			if !dynamic.SameDefinition(d.value, v) {
				conflicted[lower] = true
				errs = append(errs, conflictError(s.path(), d, part, name))
			}
		}
	}
	if len(order) > 0 {
		s.reserve(out, len(order))
	}
	for _, lower := range order {
		if d := first[lower]; !conflicted[lower] {
			s.put(out, d.name, d.value)
		}
	}
	return errs
}

func conflictError(sectionPath string, first *definition, part *filePart, name string) *dynamic.Error {
	a := definedAt(first.part, sectionPath, first.name)
	b := definedAt(part, sectionPath, name)
	return &dynamic.Error{
		Source: b,
		Path:   sectionPath + "." + name,
		Msg:    fmt.Sprintf("defined differently in %s and %s; both definitions are left out", a, b),
	}
}

// definedAt finds where a file defines section.name, from its node tree: every object
// type has a position there, even those without a Source field.
func definedAt(part *filePart, sectionPath, name string) dynamic.Source {
	n := part.node
	for _, key := range strings.Split(sectionPath, ".") {
		n = n.Get(key)
	}
	if n = n.Get(name); n != nil {
		return n.Src
	}
	return dynamic.Source{Provider: Name, File: part.path}
}
