// Package api serves wharf's read-only JSON API and /ping: what is routed, to where, and
// every configuration problem with the place it was written.
package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// State is what the API shows; the composition root provides it.
type State interface {
	// Table is the routing table being served.
	Table() *router.Table
	// EntryPoints lists the listeners.
	EntryPoints() []EntryPoint
}

// EntryPoint describes a listener.
type EntryPoint struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	TLS     bool   `json:"tls"`
}

// Version is printed by /api/version.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Handler returns the API's routes.
func Handler(st State, v Version) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, v) })
	mux.HandleFunc("GET /api/entrypoints", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, st.EntryPoints()) })
	mux.HandleFunc("GET /api/overview", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, overview(st.Table().Info())) })
	mux.HandleFunc("GET /api/errors", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, errorsOf(st.Table().Info().Errors)) })
	mux.HandleFunc("GET /api/http/routers", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, routers(st.Table().Info())) })
	mux.HandleFunc("GET /api/http/routers/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, routers(st.Table().Info()), r.PathValue("name"), func(x Router) string { return x.Name })
	})
	mux.HandleFunc("GET /api/http/services", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, services(st.Table().Info())) })
	mux.HandleFunc("GET /api/http/services/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, services(st.Table().Info()), r.PathValue("name"), func(x Service) string { return x.Name })
	})
	mux.HandleFunc("GET /api/http/middlewares", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, middlewares(st.Table().Info())) })
	mux.HandleFunc("GET /api/http/middlewares/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, middlewares(st.Table().Info()), r.PathValue("name"), func(x Middleware) string { return x.Name })
	})
	return mux
}

func one[T any](w http.ResponseWriter, list []T, name string, key func(T) string) {
	for _, x := range list {
		if key(x) == name {
			writeJSON(w, x)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"message":"not found"}` + "\n"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ConfigError is one problem, as the API shows it.
type ConfigError struct {
	Severity  string `json:"severity"` // "error" or "warning"
	Provider  string `json:"provider,omitempty"`
	Container string `json:"container,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	Label     string `json:"label,omitempty"`
	Message   string `json:"message"` // the whole sentence, source included
}

func errorsOf(es dynamic.Errors) []ConfigError {
	out := make([]ConfigError, 0, len(es))
	for _, e := range es {
		sev := "error"
		if e.Warning {
			sev = "warning"
		}
		out = append(out, ConfigError{Severity: sev, Provider: e.Source.Provider, Container: e.Source.Container,
			File: e.Source.File, Line: e.Source.Line, Column: e.Source.Col, Label: e.Source.Label, Message: e.Error()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity < out[j].Severity })
	return out
}

// Router is a router as the API shows it.
type Router struct {
	Name        string   `json:"name"`
	Provider    string   `json:"provider"`
	Rule        string   `json:"rule"`
	Priority    int      `json:"priority"`
	EntryPoints []string `json:"entryPoints"`
	Service     string   `json:"service"`
	Middlewares []string `json:"middlewares,omitempty"`
	TLS         any      `json:"tls,omitempty"`
	Status      string   `json:"status"` // "enabled" or "disabled"
	Errors      []string `json:"errors,omitempty"`
	Source      string   `json:"source,omitempty"`
}

// Service is a service as the API shows it.
type Service struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Servers  []string `json:"servers"`
	Status   string   `json:"status"`
	UsedBy   []string `json:"usedBy"`
	Errors   []string `json:"errors,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// Middleware is a middleware as the API shows it (never its options: they may hold secrets).
type Middleware struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Type     string   `json:"type"`
	Status   string   `json:"status"`
	UsedBy   []string `json:"usedBy"`
	Errors   []string `json:"errors,omitempty"`
	Source   string   `json:"source,omitempty"`
}

func status(ok bool) string {
	if ok {
		return "enabled"
	}
	return "disabled"
}

func providerOf(name string) string {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

func routers(info *router.Info) []Router {
	out := make([]Router, 0, len(info.Routers))
	for _, r := range info.Routers {
		x := Router{Name: r.Name, Provider: providerOf(r.Name), Rule: r.Rule, Priority: r.Priority, EntryPoints: r.EntryPoints,
			Service: r.Service, Middlewares: r.Middlewares, Status: status(r.Enabled), Errors: r.Errors, Source: r.Source.String()}
		if r.TLS != nil {
			x.TLS = r.TLS
		}
		out = append(out, x)
	}
	return out
}

func services(info *router.Info) []Service {
	out := make([]Service, 0, len(info.Services))
	for _, s := range info.Services {
		out = append(out, Service{Name: s.Name, Provider: providerOf(s.Name), Servers: nonNil(s.Servers), Status: status(s.Enabled),
			UsedBy: nonNil(s.UsedBy), Errors: s.Errors, Source: s.Source.String()})
	}
	return out
}

func middlewares(info *router.Info) []Middleware {
	out := make([]Middleware, 0, len(info.Middlewares))
	for _, m := range info.Middlewares {
		out = append(out, Middleware{Name: m.Name, Provider: providerOf(m.Name), Type: m.Type, Status: status(m.Enabled),
			UsedBy: nonNil(m.UsedBy), Errors: m.Errors, Source: m.Source.String()})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Overview counts what is served and what is broken.
type Overview struct {
	Routers     Count `json:"routers"`
	Services    Count `json:"services"`
	Middlewares Count `json:"middlewares"`
	Errors      int   `json:"errors"`
	Warnings    int   `json:"warnings"`
}

// Count is a total with the number disabled.
type Count struct {
	Total    int `json:"total"`
	Disabled int `json:"disabled"`
}

func overview(info *router.Info) Overview {
	var o Overview
	for _, r := range info.Routers {
		o.Routers.Total++
		if !r.Enabled {
			o.Routers.Disabled++
		}
	}
	for _, s := range info.Services {
		o.Services.Total++
		if !s.Enabled {
			o.Services.Disabled++
		}
	}
	for _, m := range info.Middlewares {
		o.Middlewares.Total++
		if !m.Enabled {
			o.Middlewares.Disabled++
		}
	}
	for _, e := range info.Errors {
		if e.Warning {
			o.Warnings++
		} else {
			o.Errors++
		}
	}
	return o
}
