package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/entrypoints"
	"github.com/wharfproxy/wharf/internal/accesslog"
	"github.com/wharfproxy/wharf/internal/api"
	"github.com/wharfproxy/wharf/internal/metrics"
	"github.com/wharfproxy/wharf/internal/static"
	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
	wtls "github.com/wharfproxy/wharf/tls"
)

// observer is everything that lets a user see what wharf does: metrics, the access log, and
// what the API shows beyond the table. Its parts live as long as the process; the per-request
// work is resolved once per entrypoint (entryPoint) and once per compiled route (wrapRoute),
// so a request pays for no label or name lookup.
type observer struct {
	log          zerolog.Logger
	metrics      *metrics.Registry // nil when metrics are off
	access       *accesslog.Logger // nil when the access log is off
	metricsEP    string            // the entrypoint that also answers /metrics; "" none
	onAPI        bool              // the API listener answers /metrics
	metricsLn    net.Listener      // metrics.prometheus.address, when set
	metricsSrv   *http.Server
	api          *api.Server // nil when the API is off
	dashboardURL string      // logged at start; "" without a dashboard
	conns        map[string]*metrics.Conns

	// certSource lists the certificates served: the certificate manager's list, or without
	// one the static certificates of the dynamic configuration, parsed at each reload.
	certSource  func() []api.Certificate
	staticCerts atomic.Pointer[[]api.Certificate]
	problems    atomic.Pointer[dynamic.Errors] // every current problem, the TLS manager's too

	stopSignals func()
}

// newObserver builds the metrics registry and opens the access log, from the static
// configuration. It binds metrics.prometheus.address now, with the other listeners, so a
// port in use stops startup.
func newObserver(cfg *static.Config, log zerolog.Logger) (*observer, error) {
	o := &observer{log: log, conns: map[string]*metrics.Conns{}, stopSignals: func() {}}
	o.certSource = o.staticCertificates
	if m := cfg.Metrics; m != nil && m.Prometheus != nil {
		p := m.Prometheus
		o.metrics = metrics.New(metrics.Options{Buckets: p.Buckets, EntryPoints: isTrue(p.AddEntryPointsLabels, true),
			Routers: p.AddRoutersLabels, Services: isTrue(p.AddServicesLabels, true)})
		o.metrics.WatchCertificates(o.certExpiries)
		switch {
		case p.Address != "":
			ln, err := net.Listen("tcp", p.Address)
			if err != nil {
				return nil, fmt.Errorf("metrics.prometheus.address: cannot listen on %q: %w", p.Address, err)
			}
			o.metricsLn = ln
		case p.EntryPoint != "":
			o.metricsEP = p.EntryPoint
		default:
			o.onAPI = true
		}
		if p.ManualRouting {
			log.Warn().Msg("metrics.prometheus.manualRouting is not supported: /metrics is served where metrics.prometheus says")
		}
	}
	if c := cfg.AccessLog; c != nil {
		l, err := accesslog.New(accesslog.Config{Format: c.Format, FilePath: c.FilePath, BufferingSize: c.BufferingSize,
			StatusCodes: c.Filters.StatusCodes, RetryAttempts: c.Filters.RetryAttempts, MinDuration: c.Filters.MinDuration,
			DefaultMode: c.Fields.DefaultMode, Fields: c.Fields.Names,
			HeadersDefaultMode: c.Fields.Headers.DefaultMode, Headers: c.Fields.Headers.Names})
		if err != nil {
			if o.metricsLn != nil {
				_ = o.metricsLn.Close()
			}
			return nil, fmt.Errorf("accessLog: %w", err)
		}
		o.access = l
		to := c.FilePath
		if to == "" {
			to = "stdout"
		}
		log.Info().Str("path", to).Str("format", c.Format).Msg("access log")
	}
	return o, nil
}

func isTrue(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// attach connects the observer to the app once its listeners, providers and switcher exist:
// the route hook, the Docker provider's connection state, the servers' health, and the API.
func (o *observer) attach(a *app) error {
	if o.perRequest() {
		a.opts.WrapRoute = o.wrapRoute
	}
	for _, p := range a.providers {
		if d, ok := p.(metrics.Docker); ok && o.metrics != nil {
			o.metrics.WatchDocker(d)
		}
	}
	if o.metrics != nil {
		o.metrics.WatchServers(func() []metrics.ServerState { return serverStates(a) })
	}
	if a.tls != nil {
		o.certSource = func() []api.Certificate { return certificatesOf(a.tls.Certificates()) }
	}
	if a.apiLn == nil {
		return nil
	}
	c := a.cfg.API
	opt := api.Options{Version: api.Version{Version: version, Commit: commit, Date: date},
		Dashboard: isTrue(c.Dashboard, true), Debug: c.Debug}
	if c.BasicAuth != nil {
		opt.Users = c.BasicAuth.Users
	}
	if o.onAPI {
		opt.Metrics = o.metrics.Handler()
	}
	if opt.Dashboard {
		o.dashboardURL = "http://" + a.apiLn.Addr().String() + "/dashboard/"
	}
	var err error
	o.api, err = api.New(a, opt)
	return err
}

// perRequest reports whether requests must be observed one by one.
func (o *observer) perRequest() bool { return o.metrics != nil || o.access != nil }

// connState is the http.Server ConnState hook that counts an entrypoint's open connections
// (wharf_open_connections), or nil when metrics are off.
func (o *observer) connState(entrypoint string) func(net.Conn, http.ConnState) {
	if o.metrics == nil {
		return nil
	}
	c := o.metrics.Conns(entrypoint)
	o.conns[entrypoint] = c
	return c.ConnState
}

// start serves metrics.prometheus.address, reopens the access log on SIGUSR1 (logrotate's
// signal), and ends the dashboard's event streams when ctx ends, so the API's graceful stop
// does not wait on them.
func (o *observer) start(ctx context.Context, errc chan<- error) {
	if o.metricsLn != nil {
		o.metricsSrv = &http.Server{Handler: o.metrics.Handler(), ReadHeaderTimeout: entrypoints.DefaultReadHeaderTimeout,
			ReadTimeout: entrypoints.DefaultReadTimeout, IdleTimeout: entrypoints.DefaultIdleTimeout}
		o.log.Info().Str("address", o.metricsLn.Addr().String()).Msg("metrics listening")
		go func() {
			if err := o.metricsSrv.Serve(o.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	if o.metricsEP != "" {
		o.log.Info().Str("entrypoint", o.metricsEP).Msg("metrics served at /metrics on this entrypoint")
	}
	if o.dashboardURL != "" {
		o.log.Info().Str("url", o.dashboardURL).Msg("dashboard")
	}
	if o.access != nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		stop := make(chan struct{})
		go o.reopenOnSignal(sig, stop)
		var once sync.Once
		o.stopSignals = func() { once.Do(func() { signal.Stop(sig); close(stop) }) }
	}
	if o.api != nil {
		go func() { <-ctx.Done(); o.api.Close() }()
	}
}

func (o *observer) reopenOnSignal(sig <-chan os.Signal, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-sig:
			if err := o.access.Reopen(); err != nil {
				o.log.Error().Err(err).Msg("access log: cannot reopen; still writing to the old file")
			} else {
				o.log.Info().Msg("access log reopened")
			}
		}
	}
}

// applied records a new table and every problem of its configuration (the table's and the
// certificate manager's): reload metrics, the routers and services that are gone, the
// static certificates, and a nudge to the dashboards.
func (o *observer) applied(s *provider.Snapshot, tab *router.Table, problems dynamic.Errors) {
	info := tab.Info()
	all := append(dynamic.Errors{}, problems...)
	o.problems.Store(&all)
	if o.metrics != nil {
		o.metrics.ConfigApplied(time.Now(), problems)
		routers, services := map[string]bool{}, map[string]bool{}
		for _, r := range info.Routers {
			routers[r.Name] = true
		}
		for _, sv := range info.Services {
			services[sv.Name] = true
		}
		o.metrics.Retain(routers, services)
	}
	certs := []api.Certificate{}
	if s.Config != nil && s.Config.TLS != nil {
		certs = api.StaticCertificates(s.Config.TLS.Certificates)
	}
	o.staticCerts.Store(&certs)
	if o.api != nil {
		o.api.Notify()
	}
}

// close stops what start started and writes what the access log buffered. Call it after
// the entrypoints have drained, so the last requests are logged.
func (o *observer) close(ctx context.Context) {
	o.stopSignals()
	if o.metricsSrv != nil {
		_ = o.metricsSrv.Shutdown(ctx)
	} else if o.metricsLn != nil {
		_ = o.metricsLn.Close()
	}
	if err := o.access.Close(); err != nil {
		o.log.Warn().Err(err).Msg("access log: close")
	}
}

// Certificates makes app an api.Certificates.
func (a *app) Certificates() []api.Certificate { return a.obs.certSource() }

// Problems makes app an api.Problems: the API shows the certificate manager's problems too.
func (a *app) Problems() dynamic.Errors {
	if p := a.obs.problems.Load(); p != nil {
		return *p
	}
	return nil
}

// certificatesOf converts the certificate manager's list for the API.
func certificatesOf(infos []wtls.CertInfo) []api.Certificate {
	out := make([]api.Certificate, 0, len(infos))
	for _, c := range infos {
		out = append(out, api.Certificate{Names: c.Names, Issuer: c.Issuer, Resolver: c.Resolver, NotAfter: c.NotAfter,
			Managed: c.Managed, Default: c.Default, LastError: c.LastError})
	}
	return out
}

func (o *observer) staticCertificates() []api.Certificate {
	if p := o.staticCerts.Load(); p != nil {
		return *p
	}
	return nil
}

func (o *observer) certExpiries() []metrics.CertExpiry {
	var out []metrics.CertExpiry
	for _, c := range o.certSource() {
		if c.Default || c.NotAfter.IsZero() {
			continue
		}
		for _, n := range c.Names {
			out = append(out, metrics.CertExpiry{Name: n, Resolver: c.Resolver, NotAfter: c.NotAfter})
		}
	}
	return out
}

// serverStates lists every server of the table being served, for wharf_service_server_up:
// as the health checks see them when the app knows (api.Health), else up.
func serverStates(a *app) []metrics.ServerState {
	h, _ := any(a).(api.Health)
	var out []metrics.ServerState
	for _, s := range a.sw.Load().Info().Services {
		var st []api.ServerStatus
		if h != nil {
			st = h.ServerHealth(s)
		}
		if st == nil {
			for _, u := range s.Servers {
				out = append(out, metrics.ServerState{Service: s.Name, URL: u, Up: true})
			}
			continue
		}
		for _, x := range st {
			out = append(out, metrics.ServerState{Service: s.Name, URL: x.URL, Up: x.Status == "up"})
		}
	}
	return out
}

// entryPoint wraps the handler of one entrypoint: /metrics when it is the metrics
// entrypoint, and the per-request observation.
func (o *observer) entryPoint(name string, next http.Handler) http.Handler {
	e := &epObserver{name: name, next: next, scope: o.metrics.EntryPoint(name), conns: o.conns[name],
		access: o.access, observe: o.perRequest()}
	if name == o.metricsEP && o.metrics != nil {
		e.metrics = o.metrics.Handler()
	}
	if e.metrics == nil && !e.observe {
		return next
	}
	return e
}

// wrapRoute is router.Options.WrapRoute: it resolves the route's metric scopes and names
// once, when the table is compiled. At request time it only tells the entrypoint's recorder
// which route answered.
func (o *observer) wrapRoute(meta router.RouteMeta, h http.Handler) http.Handler {
	ro := &routeObs{router: meta.Router, service: meta.Service, accessLog: !meta.NoAccessLog}
	if !meta.NoMetrics {
		ro.routerScope, ro.serviceScope = o.metrics.Router(meta.Router, meta.Service), o.metrics.Service(meta.Service)
	}
	return &routeHandler{ro: ro, next: h}
}

// routeObs is what a route contributes to the observation of its requests.
type routeObs struct {
	router, service           string
	routerScope, serviceScope *metrics.Scope
	accessLog                 bool // false: the router opted out of the access log
}

type routeHandler struct {
	ro   *routeObs
	next http.Handler
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rec := findRecorder(w); rec != nil {
		rec.route = h.ro
	}
	h.next.ServeHTTP(w, r)
}

// epObserver observes every request of one entrypoint.
type epObserver struct {
	name    string
	next    http.Handler
	scope   *metrics.Scope
	conns   *metrics.Conns
	access  *accesslog.Logger
	metrics http.Handler // answers /metrics on this entrypoint; nil otherwise
	observe bool
}

func (e *epObserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.metrics != nil && r.URL.Path == "/metrics" {
		e.metrics.ServeHTTP(w, r)
		return
	}
	if !e.observe {
		e.next.ServeHTTP(w, r)
		return
	}
	rec := getRecorder(w)
	rec.start = time.Now()
	rec.method, rec.proto = metrics.MethodOf(r.Method), metrics.ProtocolOf(r)
	if r.Body != nil && r.Body != http.NoBody {
		rec.body = &countingBody{ReadCloser: r.Body}
		r.Body = rec.body
	}
	if e.access != nil {
		fillEntry(&rec.entry, e.name, r)
	}
	// Deferred, so a request whose handler panics (ReverseProxy aborts a response that broke
	// mid-body with http.ErrAbortHandler) is still counted and logged.
	defer e.finish(rec, r)
	e.next.ServeHTTP(rec, r)
}

func (e *epObserver) finish(rec *recorder, r *http.Request) {
	d := time.Since(rec.start)
	status := rec.finalStatus(r)
	var reqBytes int64
	if rec.body != nil {
		reqBytes = rec.body.n.Load()
	}
	e.scope.Observe(status, rec.method, rec.proto, d, reqBytes, rec.bytes)
	ro := rec.route
	if ro != nil {
		ro.routerScope.Observe(status, rec.method, rec.proto, d, reqBytes, rec.bytes)
		ro.serviceScope.Observe(status, rec.method, rec.proto, d, reqBytes, rec.bytes)
	}
	if rec.hijacked {
		e.conns.UpgradeDone()
	}
	if e.access != nil && (ro == nil || ro.accessLog) && e.access.Keep(status, d, rec.retries) {
		en := &rec.entry
		en.Duration, en.Status, en.Bytes, en.RequestBytes = d, status, rec.bytes, reqBytes
		en.Upstream, en.Retries = rec.upstream, rec.retries
		if ro != nil {
			en.Router, en.Service = ro.router, ro.service
		}
		if id := r.Header["X-Request-Id"]; len(id) > 0 {
			en.RequestID = id[0]
		}
		e.access.Log(en)
	}
	putRecorder(rec)
}

// fillEntry takes what the access log needs from the request before it is served:
// middlewares may rewrite the path, and the log shows what the client asked for.
func fillEntry(en *accesslog.Entry, ep string, r *http.Request) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	en.Path, en.RawQuery, _ = strings.Cut(uri, "?")
	en.EntryPoint, en.ClientAddr, en.Method, en.Host, en.Proto = ep, r.RemoteAddr, r.Method, r.Host, r.Proto
	if ua := r.Header["User-Agent"]; len(ua) > 0 {
		en.UserAgent = ua[0]
	}
	en.Header = r.Header
}

// countingBody counts the request body bytes read. The transport may still be reading it
// after the handler returned, hence the atomic.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// recorder is the ResponseWriter every observed request is served through: it notes the
// status, the bytes written, whether the connection was hijacked, which route answered,
// which server (NoteUpstream, called by the forwarder) and how often the request was retried
// (NoteRetry, called by the retry middleware). Both find it through Unwrap, past the writers
// of middlewares, so no context value is needed. Recorders are pooled: no handler
// may keep a ResponseWriter after ServeHTTP returns, so none outlives its request.
type recorder struct {
	w        http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
	start    time.Time
	method   metrics.Method
	proto    metrics.Protocol
	body     *countingBody
	route    *routeObs
	upstream string
	retries  int
	entry    accesslog.Entry
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func getRecorder(w http.ResponseWriter) *recorder {
	rec := recorders.Get().(*recorder)
	rec.w = w
	return rec
}

func putRecorder(rec *recorder) {
	*rec = recorder{}
	recorders.Put(rec)
}

// findRecorder finds the recorder under a ResponseWriter that middlewares may have wrapped.
func findRecorder(w http.ResponseWriter) *recorder {
	for {
		switch x := w.(type) {
		case *recorder:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

func (rec *recorder) WriteHeader(code int) {
	// 1xx responses (103 Early Hints) come before the final one, which is the one recorded.
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.w.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.w.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Flush and FlushError let streamed responses (server-sent events, gRPC) through at once.
func (rec *recorder) Flush() { _ = rec.FlushError() }

func (rec *recorder) FlushError() error {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return http.NewResponseController(rec.w).Flush()
}

// Hijack is here, rather than left to Unwrap, to see WebSocket upgrades: their connection
// stays open after net/http forgets it.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rec.w).Hijack()
	if err == nil {
		rec.hijacked = true
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController the writer underneath (deadlines, full duplex).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

// NoteUpstream records the address of the server that answers; the forwarder calls it.
func (rec *recorder) NoteUpstream(addr string) { rec.upstream = addr }

// NoteRetry counts one more attempt; the retry middleware calls it before trying again.
func (rec *recorder) NoteRetry() { rec.retries++ }

// finalStatus is the status the client got: what was written, else 101 for a hijacked
// upgrade, 499 when the client went away before any answer (nginx's convention, never
// sent), and 200 for a handler that wrote nothing at all (net/http sends 200).
func (rec *recorder) finalStatus(r *http.Request) int {
	switch {
	case rec.status != 0:
		return rec.status
	case rec.hijacked:
		return http.StatusSwitchingProtocols
	case r.Context().Err() != nil:
		return 499
	}
	return http.StatusOK
}
