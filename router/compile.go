package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/middleware"
	"github.com/wharfproxy/wharf/router/rule"
	"github.com/wharfproxy/wharf/router/upstream"
)

// EntryPoint is what the compiler needs to know of a listener.
type EntryPoint struct {
	Name string
	// Default: routers that name no entrypoint are served here. When no entrypoint is marked
	// default, such routers are served on all of them (Traefik's behaviour).
	Default bool
	// TLS: every router on this entrypoint is a TLS router (entryPoints.<name>.http.tls),
	// whether or not it has a tls section of its own.
	TLS bool
}

// Options are the process-wide things a table is built with.
type Options struct {
	EntryPoints []EntryPoint // the order fixes the index passed to Switcher.Handler
	Transports  *upstream.Transports
	Buffers     httputil.BufferPool
	ServerHost  string // X-Forwarded-Server
	Log         zerolog.Logger
	// WrapRoute, when set, wraps each route's handler (middlewares and service) once, at
	// compile time: where metrics and access logs resolve their per-router labels, so a
	// request pays for no label lookup.
	WrapRoute func(RouteMeta, http.Handler) http.Handler
	// Health is the process-wide health of every server, kept across table generations so
	// that a reload does not bring a down server back; nil gives each table its own.
	Health *upstream.HealthStore
}

// RouteMeta names what a route handler serves, for WrapRoute.
type RouteMeta struct {
	Router      string
	Service     string
	Middlewares []string
	NoAccessLog bool // the router opted out (observability.accessLogs: false)
	NoMetrics   bool // the router opted out (observability.metrics: false)
	Source      dynamic.Source
}

// Compile builds a table from a merged configuration whose names are qualified
// (name@provider). prior are the problems the providers found; they are kept with the
// table's own so the API shows every problem in one place. It never fails as a whole: a router whose rule, service or middlewares are
// broken is left out (never served half-configured, so never without the auth it asked for),
// and the problem is returned; everything else is served.
func Compile(cfg *dynamic.Configuration, prior dynamic.Errors, opt Options) (*Table, dynamic.Errors) {
	if opt.Transports == nil {
		opt.Transports = upstream.NewTransports()
	}
	if opt.Buffers == nil {
		opt.Buffers = upstream.NewBufferPool()
	}
	ctx, cancel := context.WithCancel(context.Background())
	if cfg == nil {
		cfg = dynamic.NewConfiguration()
	}
	if cfg.HTTP == nil {
		c := *cfg
		c.HTTP = &dynamic.HTTPConfiguration{}
		cfg = &c
	}
	h := cfg.HTTP
	c := &compiler{
		cfg: cfg, opt: opt, ctx: ctx,
		services:    make(map[string]*builtService, len(h.Services)),
		middlewares: make(map[string]*builtMiddleware, len(h.Middlewares)),
		usedBy:      make(map[string][]string, len(h.Services)+len(h.Middlewares)),
		prevRules:   lastRules.get(),
		rules:       make(map[string]*rule.Rule, len(h.Routers)),
	}
	t := &Table{cancel: cancel, eps: make([]epRoutes, len(opt.EntryPoints))}
	perEP := c.routers()
	for i := range t.eps {
		t.eps[i].plain = buildIndex(perEP[i].plain)
		t.eps[i].secure = buildIndex(perEP[i].secure)
	}
	c.reportUnused()
	t.info = c.info()
	t.info.Errors = append(append(dynamic.Errors(nil), prior...), c.errs...)
	lastRules.set(c.rules)
	return t, c.errs
}

// lastRules are the parsed rules of the last table compiled, by rule text. A reload mostly
// changes a router or two, and parsing every other rule again was a tenth of a rebuild. A
// rule.Rule never changes after Parse, so tables can share one. Only the last table's
// rules are kept, so a rule no longer used is let go after one generation.
var lastRules rulesByText

type rulesByText struct {
	mu sync.Mutex
	m  map[string]*rule.Rule // never modified once stored
}

func (r *rulesByText) get() map[string]*rule.Rule {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m
}

func (r *rulesByText) set(m map[string]*rule.Rule) {
	r.mu.Lock()
	r.m = m
	r.mu.Unlock()
}

// parseRule parses a router's rule, or takes it from the last table.
func (c *compiler) parseRule(text string) (*rule.Rule, error) {
	if r, ok := c.rules[text]; ok {
		return r, nil
	}
	r, ok := c.prevRules[text]
	if !ok {
		var err error
		if r, err = rule.Parse(text); err != nil {
			return nil, err
		}
	}
	c.rules[text] = r
	return r, nil
}

type compiler struct {
	cfg         *dynamic.Configuration
	opt         Options
	ctx         context.Context
	errs        dynamic.Errors
	services    map[string]*builtService
	middlewares map[string]*builtMiddleware
	usedBy      map[string][]string // service or middleware name -> routers
	routerInfo  []RouterInfo
	prevRules   map[string]*rule.Rule // the last table's, by text; read only
	rules       map[string]*rule.Rule // this table's, by text
}

type builtService struct {
	handler http.Handler
	servers []string
	err     error
}

type builtMiddleware struct {
	mw  middleware.Middleware
	typ string
	err error
}

type epLists struct{ plain, secure []*route }

func (c *compiler) fail(src dynamic.Source, format string, args ...any) {
	c.errs = append(c.errs, dynamic.Errorf(src, format, args...))
}

// routers compiles every router and sorts them into per-entrypoint lists in match order.
func (c *compiler) routers() []epLists {
	names := sortedKeys(c.cfg.HTTP.Routers)
	all := make([]*routeWithEPs, 0, len(names))
	if len(names) > 0 {
		c.routerInfo = make([]RouterInfo, 0, len(names))
	}
	for _, name := range names {
		r := c.cfg.HTTP.Routers[name]
		info := RouterInfo{Name: name, Rule: r.Rule, Priority: r.Priority, Service: r.Service,
			Middlewares: r.Middlewares, TLS: r.TLS, Source: r.Source}
		rt, eps, problems := c.router(name, r)
		info.Priority = effectivePriority(r)
		info.EntryPoints = eps
		info.Errors = problems
		info.Enabled = rt != nil
		c.routerInfo = append(c.routerInfo, info)
		if rt != nil {
			all = append(all, &routeWithEPs{route: rt, eps: eps, tls: r.TLS != nil})
		}
	}
	// Highest priority first; equal priorities by name, so the order never depends on map
	// iteration or on which provider spoke last.
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].priority != all[j].priority {
			return all[i].priority > all[j].priority
		}
		return all[i].name < all[j].name
	})
	lists := make([]epLists, len(c.opt.EntryPoints))
	plain, secure := make([]int, len(lists)), make([]int, len(lists))
	for _, rw := range all {
		for _, ep := range rw.eps {
			if i := c.epIndex(ep); rw.tls || c.opt.EntryPoints[i].TLS {
				secure[i]++
			} else {
				plain[i]++
			}
		}
	}
	for i := range lists {
		lists[i].plain, lists[i].secure = make([]*route, 0, plain[i]), make([]*route, 0, secure[i])
	}
	for rank, rw := range all {
		rw.rank = rank
		for _, ep := range rw.eps {
			i := c.epIndex(ep)
			if rw.tls || c.opt.EntryPoints[i].TLS {
				lists[i].secure = append(lists[i].secure, rw.route)
			} else {
				lists[i].plain = append(lists[i].plain, rw.route)
			}
		}
	}
	return lists
}

type routeWithEPs struct {
	*route
	eps []string
	tls bool
}

func (c *compiler) epIndex(name string) int {
	for i, ep := range c.opt.EntryPoints {
		if ep.Name == name {
			return i
		}
	}
	return -1
}

// router compiles one router. It returns nil when the router must not be served, with the
// reasons (which are also reported as errors).
func (c *compiler) router(name string, r *dynamic.Router) (*route, []string, []string) {
	var problems []string
	bad := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		problems = append(problems, msg)
		c.fail(r.Source, "router %q: %s", name, msg)
	}
	eps := c.routerEntryPoints(name, r, bad)
	if r.Rule == "" {
		bad("no rule: add one, for example Host(`app.example.com`)")
		return nil, eps, problems
	}
	parsed, err := c.parseRule(r.Rule)
	if err != nil {
		bad("%v", err)
		return nil, eps, problems
	}
	if r.Service == "" {
		bad("no service: name one with service")
		return nil, eps, problems
	}
	svc := c.service(r.Service)
	c.usedBy[r.Service] = append(c.usedBy[r.Service], name)
	if svc.err != nil {
		bad("service %q: %v", r.Service, svc.err)
	}
	handler := svc.handler
	for i := len(r.Middlewares) - 1; i >= 0; i-- {
		mname := r.Middlewares[i]
		c.usedBy[mname] = append(c.usedBy[mname], name)
		m := c.middleware(mname)
		if m.err != nil {
			bad("middleware %q: %v", mname, m.err)
			continue
		}
		if handler != nil {
			handler = m.mw(handler)
		}
	}
	if len(problems) > 0 || len(eps) == 0 {
		return nil, eps, problems
	}
	if c.opt.WrapRoute != nil {
		meta := RouteMeta{Router: name, Service: r.Service, Middlewares: r.Middlewares, Source: r.Source}
		if o := r.Observability; o != nil {
			meta.NoAccessLog = o.AccessLogs != nil && !*o.AccessLogs
			meta.NoMetrics = o.Metrics != nil && !*o.Metrics
		}
		handler = c.opt.WrapRoute(meta, handler)
	}
	return &route{name: name, rule: parsed, priority: effectivePriority(r), handler: handler}, eps, problems
}

// effectivePriority is the explicit priority, else the length of the rule (Traefik's
// default, so migrated stacks resolve overlaps the same way).
func effectivePriority(r *dynamic.Router) int {
	if r.Priority != 0 {
		return r.Priority
	}
	return len(r.Rule)
}

// routerEntryPoints resolves the entrypoints a router is served on. An unknown name is
// reported; the router is still served on the names that exist.
func (c *compiler) routerEntryPoints(name string, r *dynamic.Router, bad func(string, ...any)) []string {
	if len(r.EntryPoints) == 0 {
		var defaults, all []string
		for _, ep := range c.opt.EntryPoints {
			all = append(all, ep.Name)
			if ep.Default {
				defaults = append(defaults, ep.Name)
			}
		}
		if len(defaults) > 0 {
			return defaults
		}
		return all
	}
	known := make([]string, len(c.opt.EntryPoints))
	for i, ep := range c.opt.EntryPoints {
		known[i] = ep.Name
	}
	var eps []string
	for _, ep := range r.EntryPoints {
		if c.epIndex(ep) < 0 {
			c.errs = append(c.errs, &dynamic.Error{Source: r.Source, Warning: true,
				Msg: fmt.Sprintf("router %q: entrypoint %q does not exist%s; known: %s", name, ep, dynamic.DidYouMean(ep, known), strings.Join(known, ", "))})
			continue
		}
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		bad("none of its entrypoints exist")
	}
	return eps
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// middleware builds a middleware once per table; routers that share it share its state
// (one rate limiter for every router that names it).
func (c *compiler) middleware(name string) *builtMiddleware {
	if m, ok := c.middlewares[name]; ok {
		if m.mw == nil && m.err == nil {
			m.err = errors.New("refers to itself through a chain")
		}
		return m
	}
	m := &builtMiddleware{}
	c.middlewares[name] = m
	def, ok := c.cfg.HTTP.Middlewares[name]
	if !ok {
		m.err = fmt.Errorf("does not exist%s", dynamic.DidYouMean(name, sortedKeys(c.cfg.HTTP.Middlewares)))
		return m
	}
	m.typ = def.Type
	typ, ok := middleware.Lookup(def.Type)
	if !ok {
		m.err = middleware.UnknownTypeError(def.Type)
		c.fail(def.Source, "middleware %q: %v", name, m.err)
		return m
	}
	local, provider := name, ""
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		local, provider = name[:i], name[i+1:]
	}
	env := &middleware.Env{
		Name: name, Source: def.Source, Provider: provider,
		Path:       "http.middlewares." + local + "." + def.Type,
		Log:        c.opt.Log.With().Str("middleware", name).Logger(),
		Transports: c.opt.Transports,
		Service: func(s string) (http.Handler, error) {
			b := c.service(s)
			return b.handler, b.err
		},
		Middleware: func(n string) (middleware.Middleware, error) {
			b := c.middleware(n)
			return b.mw, b.err
		},
	}
	mw, err := typ.New(env, def.Options)
	if err != nil {
		m.err = err
		var des dynamic.Errors
		if errors.As(err, &des) {
			c.errs = append(c.errs, des...)
			m.err = errors.New("its options have errors")
		} else {
			c.fail(def.Source, "middleware %q: %v", name, err)
		}
		return m
	}
	m.mw = mw
	return m
}
