// Package metrics is wharf's Prometheus instrumentation. It keeps a registry of its own (never
// the client library's global one) and names everything wharf_<scope>_<what> with Traefik's
// labels, so a Traefik dashboard ports by changing its prefix.
//
// The request path is kept cheap: every label value that names an entrypoint, a router or a
// service is resolved once into a *Scope, when the listener starts or the route is compiled;
// a request then pays a map read and a few atomic adds, and allocates nothing.
package metrics

import (
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// DefaultBuckets are the request duration buckets, in seconds (Traefik's).
var DefaultBuckets = []float64{0.1, 0.3, 1.2, 5}

// Options choose which scopes are measured. Each scope costs a little per request, so those
// not asked for are not measured at all.
type Options struct {
	Buckets     []float64 // request duration buckets in seconds; nil: DefaultBuckets
	EntryPoints bool      // wharf_entrypoint_* (Traefik's addEntryPointsLabels)
	Routers     bool      // wharf_router_* (addRoutersLabels)
	Services    bool      // wharf_service_* (addServicesLabels)
}

// Registry holds every wharf metric. It lives as long as the process: table generations
// come and go, their routers' series stay (and are forgotten when a router is removed).
type Registry struct {
	reg                         *prometheus.Registry
	ep, router, service         *family // nil when that scope is off
	reloads, reloadFailures     prometheus.Counter
	lastSuccess, lastFailure    prometheus.Gauge
	configErrors, configWarning *prometheus.GaugeVec
	openConns                   *prometheus.GaugeVec

	mu        sync.Mutex
	routers   map[string]*Scope // by router name
	services  map[string]*Scope // by service name
	providers map[string]bool   // providers that have had a config error gauge set
}

// New builds a registry with the Go runtime and process collectors and wharf's own.
func New(o Options) *Registry {
	if len(o.Buckets) == 0 {
		o.Buckets = DefaultBuckets
	}
	r := &Registry{reg: prometheus.NewRegistry(), routers: map[string]*Scope{}, services: map[string]*Scope{}, providers: map[string]bool{}}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.EntryPoints {
		r.ep = newFamily("entrypoint", o.Buckets, "entrypoint")
		r.reg.MustRegister(r.ep.collectors()...)
	}
	if o.Routers {
		r.router = newFamily("router", o.Buckets, "router", "service")
		r.reg.MustRegister(r.router.collectors()...)
	}
	if o.Services {
		r.service = newFamily("service", o.Buckets, "service")
		r.reg.MustRegister(r.service.collectors()...)
	}
	r.registerConfig()
	r.openConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wharf_open_connections",
		Help: "Client connections open on each entrypoint."}, []string{"entrypoint", "protocol"})
	r.reg.MustRegister(r.openConns)
	return r
}

func (r *Registry) registerConfig() {
	r.reloads = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_config_reloads_total",
		Help: "How many configurations were applied."})
	r.reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_config_reloads_failure_total",
		Help: "How many applied configurations had at least one error (the broken parts were left out)."})
	r.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_config_last_reload_success",
		Help: "When a configuration without errors was last applied, as a Unix timestamp."})
	r.lastFailure = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_config_last_reload_failure",
		Help: "When a configuration with errors was last applied, as a Unix timestamp."})
	r.configErrors = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wharf_config_errors",
		Help: "Configuration errors in the configuration being served, by provider."}, []string{"provider"})
	r.configWarning = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wharf_config_warnings",
		Help: "Configuration warnings in the configuration being served, by provider."}, []string{"provider"})
	r.reg.MustRegister(r.reloads, r.reloadFailures, r.lastSuccess, r.lastFailure, r.configErrors, r.configWarning)
}

// Handler serves the metrics in the Prometheus text (or protobuf) format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registerer is where other packages add their collectors (the TLS manager's certificate
// expiry gauge), so everything is served from one registry.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Gatherer reads the registry (tests).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// EntryPoint returns the scope of an entrypoint, or nil when entrypoints are not measured.
func (r *Registry) EntryPoint(name string) *Scope {
	if r == nil || r.ep == nil {
		return nil
	}
	return newScope(r.ep, name)
}

// Router returns the scope of a router (nil when routers are not measured). The same router
// gets the same scope in every table generation.
func (r *Registry) Router(name, service string) *Scope {
	if r == nil || r.router == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.routers[name]; ok && s.labels[1] == service {
		return s
	}
	if _, ok := r.routers[name]; ok {
		r.router.forget(name) // the router now sends to another service: start over
	}
	s := newScope(r.router, name, service)
	r.routers[name] = s
	return s
}

// Service returns the scope of a service (nil when services are not measured).
func (r *Registry) Service(name string) *Scope {
	if r == nil || r.service == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.services[name]; ok {
		return s
	}
	s := newScope(r.service, name)
	r.services[name] = s
	return s
}

// Retain forgets the series of routers and services that are no longer configured. Call it
// after a new table is served, with the names it has.
func (r *Registry) Retain(routers, services map[string]bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.routers {
		if !routers[name] {
			r.router.forget(name)
			delete(r.routers, name)
		}
	}
	for name := range r.services {
		if !services[name] {
			r.service.forget(name)
			delete(r.services, name)
		}
	}
}

// ConfigApplied records a reload and the problems of the configuration now served.
func (r *Registry) ConfigApplied(at time.Time, errs dynamic.Errors) {
	if r == nil {
		return
	}
	r.reloads.Inc()
	nErr, nWarn := map[string]int{}, map[string]int{}
	failed := false
	for _, e := range errs {
		p := e.Source.Provider
		if p == "" {
			p = "unknown"
		}
		if e.Warning {
			nWarn[p]++
		} else {
			nErr[p]++
			failed = true
		}
	}
	if failed {
		r.reloadFailures.Inc()
		r.lastFailure.Set(float64(at.Unix()))
	} else {
		r.lastSuccess.Set(float64(at.Unix()))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range nErr {
		r.providers[p] = true
	}
	for p := range nWarn {
		r.providers[p] = true
	}
	for p := range r.providers { // providers whose problems are fixed go back to 0
		r.configErrors.WithLabelValues(p).Set(float64(nErr[p]))
		r.configWarning.WithLabelValues(p).Set(float64(nWarn[p]))
	}
}

// Conns counts the open connections of one entrypoint.
type Conns struct{ g prometheus.Gauge }

// Conns returns the connection counter of an entrypoint. Wire ConnState into its http.Server.
func (r *Registry) Conns(entrypoint string) *Conns {
	if r == nil {
		return nil
	}
	return &Conns{g: r.openConns.WithLabelValues(entrypoint, "TCP")}
}

// ConnState is an http.Server ConnState hook. A hijacked connection (a WebSocket) leaves
// net/http's tracking but stays open: it is counted until the handler that hijacked it
// returns, which calls Upgraded.
func (c *Conns) ConnState(_ net.Conn, s http.ConnState) {
	if c == nil {
		return
	}
	switch s {
	case http.StateNew:
		c.g.Inc()
	case http.StateClosed:
		c.g.Dec()
	}
}

// UpgradeDone is called when the handler of a hijacked connection returns: the connection
// is closed by then.
func (c *Conns) UpgradeDone() {
	if c != nil {
		c.g.Dec()
	}
}

// Docker is what the Docker provider reports about its connection to the engine.
type Docker interface {
	Connected() bool
	Reconnects() uint64
}

// WatchDocker exports the Docker provider's connection state, read at scrape time.
func (r *Registry) WatchDocker(d Docker) {
	if r == nil || d == nil {
		return
	}
	r.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_docker_connected",
			Help: "1 while the Docker provider follows the engine's event stream, 0 while it is reconnecting."},
			func() float64 {
				if d.Connected() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wharf_docker_reconnects_total",
			Help: "How often the connection to the Docker engine was re-established after being lost."},
			func() float64 { return float64(d.Reconnects()) }),
	)
}

// ServerState is one server of a service and whether it is up.
type ServerState struct {
	Service, URL string
	Up           bool
}

// WatchServers exports wharf_service_server_up from fn, called at scrape time, so the gauge
// always describes the table being served.
func (r *Registry) WatchServers(fn func() []ServerState) {
	if r == nil {
		return
	}
	r.reg.MustRegister(&serverCollector{fn: fn, desc: prometheus.NewDesc("wharf_service_server_up",
		"1 when a server of a service is up (or has no health check), 0 when its health check fails.",
		[]string{"service", "url"}, nil)})
}

type serverCollector struct {
	fn   func() []ServerState
	desc *prometheus.Desc
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{} // a server listed twice must not be a duplicate series
	for _, s := range c.fn() {
		k := [2]string{s.Service, s.URL}
		if seen[k] {
			continue
		}
		seen[k] = true
		v := 0.0
		if s.Up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, s.Service, s.URL)
	}
}

// CertExpiry is when the certificate served for a name expires.
type CertExpiry struct {
	Name     string
	Resolver string
	NotAfter time.Time
}

// WatchCertificates exports wharf_tls_certificate_not_after_seconds from fn, called at
// scrape time. The TLS manager registers the same metric itself on Registerer; use this only
// when it is not wired, never both.
func (r *Registry) WatchCertificates(fn func() []CertExpiry) {
	if r == nil {
		return
	}
	r.reg.MustRegister(&certCollector{fn: fn, desc: prometheus.NewDesc("wharf_tls_certificate_not_after_seconds",
		"When the certificate served for a name expires, as a Unix timestamp (static certificates have resolver \"\").",
		[]string{"name", "resolver"}, nil)})
}

type certCollector struct {
	fn   func() []CertExpiry
	desc *prometheus.Desc
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	latest := map[[2]string]time.Time{}
	for _, ce := range c.fn() {
		k := [2]string{ce.Name, ce.Resolver}
		if ce.NotAfter.After(latest[k]) {
			latest[k] = ce.NotAfter // one series per name: the certificate that expires last
		}
	}
	keys := make([][2]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0] < keys[j][0] })
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(latest[k].Unix()), k[0], k[1])
	}
}
