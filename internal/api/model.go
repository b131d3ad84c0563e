package api

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// ConfigError is one problem, as the API shows it.
type ConfigError struct {
	Severity    string `json:"severity"` // "error" or "warning"
	Provider    string `json:"provider,omitempty"`
	Container   string `json:"container,omitempty"`
	ContainerID string `json:"containerId,omitempty"` // shortened, as docker ps shows it
	File        string `json:"file,omitempty"`
	Line        int    `json:"line,omitempty"`
	Column      int    `json:"column,omitempty"`
	Label       string `json:"label,omitempty"`
	Path        string `json:"path,omitempty"` // the dotted key, when no label names it
	Source      string `json:"source,omitempty"`
	Message     string `json:"message"` // the whole sentence, source included
	// Suggestion is the close match the message proposes ("did you mean"), when there is one.
	Suggestion string `json:"suggestion,omitempty"`
	// Concerns names the router, service or middleware the problem is about, when known.
	Concerns string `json:"concerns,omitempty"`
}

// Router is a router as the API shows it.
type Router struct {
	Name        string     `json:"name"`
	Provider    string     `json:"provider"`
	Rule        string     `json:"rule,omitempty"`
	Priority    int        `json:"priority"`
	EntryPoints []string   `json:"entryPoints"`
	Service     string     `json:"service,omitempty"`
	Middlewares []string   `json:"middlewares,omitempty"`
	TLS         *RouterTLS `json:"tls,omitempty"`
	// Status is "enabled", "warning" (served, with warnings) or "disabled" (not served).
	Status   string   `json:"status"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// RouterTLS is a router's TLS settings.
type RouterTLS struct {
	CertResolver string   `json:"certResolver,omitempty"`
	Options      string   `json:"options,omitempty"`
	Domains      []Domain `json:"domains,omitempty"`
}

// Domain is a certificate's main name and SANs.
type Domain struct {
	Main string   `json:"main"`
	SANs []string `json:"sans,omitempty"`
}

// Service is a service as the API shows it.
type Service struct {
	Name     string         `json:"name"`
	Provider string         `json:"provider"`
	Servers  []ServerStatus `json:"servers"`
	Status   string         `json:"status"`
	UsedBy   []string       `json:"usedBy"`
	Errors   []string       `json:"errors,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Source   string         `json:"source,omitempty"`
}

// ServerStatus is one server of a service with its health.
type ServerStatus struct {
	URL    string    `json:"url"`              // with any password redacted
	Status string    `json:"status"`           // "up" or "down"
	Reason string    `json:"reason,omitempty"` // why it is down
	Since  time.Time `json:"since,omitzero"`   // when it entered its current state, when known
}

// Middleware is a middleware as the API shows it (never its options: they may hold secrets).
type Middleware struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Type     string   `json:"type,omitempty"`
	Status   string   `json:"status"`
	UsedBy   []string `json:"usedBy"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// Overview counts what is served and what is broken.
type Overview struct {
	Routers     Count `json:"routers"`
	Services    Count `json:"services"`
	Middlewares Count `json:"middlewares"`
	Errors      int   `json:"errors"`
	Warnings    int   `json:"warnings"`
}

// Count is a total with the number disabled and the number served with warnings.
type Count struct {
	Total    int `json:"total"`
	Warnings int `json:"warnings"`
	Disabled int `json:"disabled"`
}

// view is one table as the API shows it, built per request from Table.Info.
type view struct {
	Overview    Overview
	Routers     []Router
	Services    []Service
	Middlewares []Middleware
	Errors      []ConfigError
}

func newView(info *router.Info, errs dynamic.Errors, h Health) view {
	v := view{Errors: errorsOf(errs)}
	att := attachments(v.Errors)
	v.Routers = routers(info, att["router"])
	v.Services = services(info, att["service"], h)
	v.Middlewares = middlewares(info, att["middleware"])
	v.Overview = overview(v)
	return v
}

// ErrorsOf converts problems for output: errors first, then warnings, each in the order it
// was found. `wharf check --format json` prints the same shape as /api/errors.
func ErrorsOf(es dynamic.Errors) []ConfigError { return errorsOf(es) }

// suggestionRE finds the close match that dynamic.DidYouMean appends to a message.
var suggestionRE = regexp.MustCompile(` \(did you mean "([^"]+)"\?\)`)

func errorsOf(es dynamic.Errors) []ConfigError {
	out := make([]ConfigError, 0, len(es))
	for _, e := range es {
		sev := "error"
		if e.Warning {
			sev = "warning"
		}
		s := e.Source
		ce := ConfigError{Severity: sev, Provider: s.Provider, Container: s.Container, ContainerID: dynamic.ShortID(s.ContainerID),
			File: s.File, Line: s.Line, Column: s.Col, Label: s.Label, Source: s.String(), Message: e.Error()}
		if s.Label == "" {
			ce.Path = e.Path
		}
		ce.Concerns = concerns(e)
		if m := suggestionRE.FindStringSubmatch(e.Msg); m != nil {
			ce.Suggestion = m[1]
		}
		out = append(out, ce)
	}
	// Errors before warnings; otherwise in the order they were found (by provider, by file).
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity < out[j].Severity })
	return out
}

// subjectRE finds what a compiler message is about: `router "blog@docker": ...`.
var subjectRE = regexp.MustCompile(`^(router|service|middleware) "([^"]+)"`)

// concerns names the router, service or middleware a problem is about, as "router blog@docker":
// from the dotted path a provider reported (http.routers.blog.rule), or from the compiler's
// message.
func concerns(e *dynamic.Error) string {
	if m := subjectRE.FindStringSubmatch(e.Msg); m != nil {
		return m[1] + " " + m[2]
	}
	parts := strings.SplitN(e.Path, ".", 4)
	if len(parts) < 3 || parts[0] != "http" {
		return ""
	}
	kind := map[string]string{"routers": "router", "services": "service", "middlewares": "middleware"}[parts[1]]
	if kind == "" {
		return ""
	}
	return kind + " " + dynamic.Qualify(parts[2], e.Source.Provider)
}

// problems are the messages attached to one router, service or middleware.
type problems struct {
	errors, warnings []string
	source           string
}

// attachments groups the problems by what they concern: kind -> name -> problems.
func attachments(errs []ConfigError) map[string]map[string]*problems {
	out := map[string]map[string]*problems{"router": {}, "service": {}, "middleware": {}}
	for _, e := range errs {
		kind, name, ok := strings.Cut(e.Concerns, " ")
		if !ok {
			continue
		}
		p := out[kind][name]
		if p == nil {
			p = &problems{source: e.Source}
			out[kind][name] = p
		}
		if e.Severity == "warning" {
			p.warnings = appendNew(p.warnings, e.Message)
		} else {
			p.errors = appendNew(p.errors, e.Message)
		}
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s || strings.HasSuffix(x, s) || strings.HasSuffix(s, x) {
			return list
		}
	}
	return append(list, s)
}

// status is "disabled" when not served, "warning" when served with warnings.
func status(enabled bool, warnings []string) string {
	switch {
	case !enabled:
		return "disabled"
	case len(warnings) > 0:
		return "warning"
	}
	return "enabled"
}

func providerOf(name string) string {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

// merge combines the compiler's messages for an entity with the attached ones, without
// repeating a message the compiler already gave in a shorter form.
func merge(own []string, p *problems) (errs, warns []string) {
	errs = own
	if p == nil {
		return errs, nil
	}
	for _, e := range p.errors {
		errs = appendNew(errs, e)
	}
	return errs, p.warnings
}

func routers(info *router.Info, att map[string]*problems) []Router {
	out := make([]Router, 0, len(info.Routers))
	seen := map[string]bool{}
	for _, r := range info.Routers {
		seen[r.Name] = true
		errs, warns := merge(r.Errors, att[r.Name])
		x := Router{Name: r.Name, Provider: providerOf(r.Name), Rule: r.Rule, Priority: r.Priority, EntryPoints: nonNilList(r.EntryPoints),
			Service: r.Service, Middlewares: r.Middlewares, Status: status(r.Enabled, warns), Errors: errs, Warnings: warns, Source: r.Source.String()}
		if t := r.TLS; t != nil {
			x.TLS = &RouterTLS{CertResolver: t.CertResolver, Options: t.Options}
			for _, d := range t.Domains {
				x.TLS.Domains = append(x.TLS.Domains, Domain{Main: d.Main, SANs: d.SANs})
			}
		}
		out = append(out, x)
	}
	// A router the provider had to leave out (a broken label, a bad key) is not in the
	// table; list it as disabled with its errors, so asking for it by name explains why it
	// is missing instead of answering 404.
	for _, name := range sortedNames(att) {
		if p := att[name]; !seen[name] && len(p.errors) > 0 {
			out = append(out, Router{Name: name, Provider: providerOf(name), EntryPoints: []string{}, Status: "disabled",
				Errors: p.errors, Warnings: p.warnings, Source: p.source})
		}
	}
	return out
}

func services(info *router.Info, att map[string]*problems, h Health) []Service {
	out := make([]Service, 0, len(info.Services))
	for _, s := range info.Services {
		errs, warns := merge(s.Errors, att[s.Name])
		var servers []ServerStatus
		if h != nil {
			servers = h.ServerHealth(s)
		}
		if servers == nil {
			servers = make([]ServerStatus, 0, len(s.Servers))
			for _, u := range s.Servers {
				servers = append(servers, ServerStatus{URL: u, Status: "up"})
			}
		}
		out = append(out, Service{Name: s.Name, Provider: providerOf(s.Name), Servers: servers, Status: status(s.Enabled, warns),
			UsedBy: nonNilList(s.UsedBy), Errors: errs, Warnings: warns, Source: s.Source.String()})
	}
	return out
}

func middlewares(info *router.Info, att map[string]*problems) []Middleware {
	out := make([]Middleware, 0, len(info.Middlewares))
	for _, m := range info.Middlewares {
		errs, warns := merge(m.Errors, att[m.Name])
		out = append(out, Middleware{Name: m.Name, Provider: providerOf(m.Name), Type: m.Type, Status: status(m.Enabled, warns),
			UsedBy: nonNilList(m.UsedBy), Errors: errs, Warnings: warns, Source: m.Source.String()})
	}
	return out
}

func sortedNames(m map[string]*problems) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func overview(v view) Overview {
	var o Overview
	count := func(c *Count, status string) {
		c.Total++
		switch status {
		case "disabled":
			c.Disabled++
		case "warning":
			c.Warnings++
		}
	}
	for _, r := range v.Routers {
		count(&o.Routers, r.Status)
	}
	for _, s := range v.Services {
		count(&o.Services, s.Status)
	}
	for _, m := range v.Middlewares {
		count(&o.Middlewares, m.Status)
	}
	for _, e := range v.Errors {
		if e.Severity == "warning" {
			o.Warnings++
		} else {
			o.Errors++
		}
	}
	return o
}
