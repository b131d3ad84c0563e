// Package api serves wharf's read-only JSON API, /ping, the dashboard and (when asked)
// /metrics: what is routed, to where, with which certificate, and every configuration problem
// with the place it was written.
//
// Nothing it serves holds a secret: middleware options (basic auth hashes, forward-auth
// addresses with tokens), private keys and the API's own users are never written, and server
// URLs are shown with their passwords redacted.
package api

import (
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// State is what the API shows; the composition root provides it. It may also implement
// Certificates and Health.
type State interface {
	// Table is the routing table being served.
	Table() *router.Table
	// EntryPoints lists the listeners.
	EntryPoints() []EntryPoint
}

// Certificates is implemented by a State that knows the certificates wharf serves.
type Certificates interface {
	Certificates() []Certificate
}

// Problems is implemented by a State that knows configuration problems found outside the
// table (the certificate manager's), to show with the table's own.
type Problems interface {
	// Problems is every current problem, the table's included; nil before the first
	// configuration is applied.
	Problems() dynamic.Errors
}

// Health is implemented by a State that knows its servers' health.
type Health interface {
	// ServerHealth is the live state of a service's servers: health checks change it without
	// a new table. nil means unknown, and every server is shown up.
	ServerHealth(router.ServiceInfo) []ServerStatus
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

// Options are the API's static settings.
type Options struct {
	Version Version
	// Dashboard serves the dashboard at /dashboard/ (and redirects / to it).
	Dashboard bool
	// Users are htpasswd lines ("name:hash", bcrypt, SHA1 or APR1); when set, every path
	// but /ping asks for basic authentication.
	Users []string
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Debug serves /debug/pprof/ and /debug/vars.
	Debug bool
}

// Server is the API. Notify tells it the configuration changed, so the dashboard's event
// stream sends the new state at once; Close ends the event streams (at shutdown, so the
// listener's graceful stop does not wait on them).
type Server struct {
	st      State
	opt     Options
	handler http.Handler

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by Notify
	done    chan struct{} // closed by Close
	closed  bool
}

// New builds the API. It fails only on malformed users.
func New(st State, o Options) (*Server, error) {
	s := &Server{st: st, opt: o, changed: make(chan struct{}), done: make(chan struct{})}
	mux := http.NewServeMux()
	s.routes(mux)
	s.handler = secureHeaders(mux)
	if len(o.Users) > 0 {
		users, err := parseUsers(o.Users)
		if err != nil {
			return nil, fmt.Errorf("api.basicAuth.users: %w", err)
		}
		s.handler = basicAuth(users, s.handler)
	}
	return s, nil
}

// Handler returns the API's routes with no dashboard, metrics or authentication.
func Handler(st State, v Version) http.Handler {
	s, _ := New(st, Options{Version: v})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Notify says the configuration (or the certificates) changed.
func (s *Server) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Close ends the event streams. The API keeps answering other requests.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

func (s *Server) routes(mux *http.ServeMux) {
	get := func(path string, f func() any) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, f()) })
	}
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	get("/api/version", func() any { return s.opt.Version })
	get("/api/entrypoints", func() any { return nonNilList(s.st.EntryPoints()) })
	get("/api/overview", func() any { return s.view().Overview })
	get("/api/errors", func() any { return s.view().Errors })
	get("/api/certificates", func() any { return s.certificates(time.Now()) })
	get("/api/http/routers", func() any { return s.view().Routers })
	get("/api/http/services", func() any { return s.view().Services })
	get("/api/http/middlewares", func() any { return s.view().Middlewares })
	get("/api/rawdata", func() any { return s.state(time.Now()) })
	mux.HandleFunc("GET /api/http/routers/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, s.view().Routers, r.PathValue("name"), func(x Router) string { return x.Name })
	})
	mux.HandleFunc("GET /api/http/services/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, s.view().Services, r.PathValue("name"), func(x Service) string { return x.Name })
	})
	mux.HandleFunc("GET /api/http/middlewares/{name}", func(w http.ResponseWriter, r *http.Request) {
		one(w, s.view().Middlewares, r.PathValue("name"), func(x Middleware) string { return x.Name })
	})
	mux.HandleFunc("GET /api/events", s.events)
	if s.opt.Dashboard {
		s.dashboardRoutes(mux)
	}
	if s.opt.Metrics != nil {
		mux.Handle("GET /metrics", s.opt.Metrics)
	}
	if s.opt.Debug {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.Handle("GET /debug/vars", expvar.Handler())
	}
}

// view describes the table being served.
func (s *Server) view() view {
	h, _ := s.st.(Health)
	info := s.st.Table().Info()
	errs := info.Errors
	if p, ok := s.st.(Problems); ok {
		if all := p.Problems(); all != nil {
			errs = all
		}
	}
	return newView(info, errs, h)
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

// secureHeaders keeps the API's pages out of frames and other origins' guesses.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func nonNilList[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
