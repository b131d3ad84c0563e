package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// service builds a service once per table, however many routers use it.
func (c *compiler) service(name string) *builtService {
	if s, ok := c.services[name]; ok {
		return s
	}
	s := &builtService{}
	c.services[name] = s // before building: a service that refers to itself must not recurse
	svc, ok := c.cfg.HTTP.Services[name]
	if !ok {
		s.err = fmt.Errorf("does not exist%s", dynamic.DidYouMean(name, sortedKeys(c.cfg.HTTP.Services)))
		return s
	}
	s.handler, s.servers, s.err = c.buildService(name, svc)
	if s.err != nil {
		s.handler = nil
		c.fail(svc.Source, "service %q: %v", name, s.err)
	}
	return s
}

// child builds a service that another service is made of. A service still being built when
// it is asked for again is part of a cycle.
func (c *compiler) child(name string) (http.Handler, error) {
	b := c.service(name)
	if b.handler == nil && b.err == nil {
		return nil, errors.New("refers to itself through the services it is made of")
	}
	if b.err != nil {
		return nil, b.err
	}
	return b.handler, nil
}

func (c *compiler) buildService(name string, svc *dynamic.Service) (http.Handler, []string, error) {
	kinds := 0
	for _, set := range []bool{svc.LoadBalancer != nil, svc.Weighted != nil, svc.Mirroring != nil, svc.Failover != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return nil, nil, errors.New("has more than one of loadBalancer, weighted, mirroring and failover; declare one service for each")
	case svc.Weighted != nil:
		h, err := c.buildWeighted(name, svc.Weighted)
		return h, nil, err
	case svc.Mirroring != nil:
		h, err := c.buildMirroring(name, svc.Mirroring)
		return h, nil, err
	case svc.Failover != nil:
		h, err := c.buildFailover(svc.Failover)
		return h, nil, err
	case svc.LoadBalancer != nil:
		return c.buildLoadBalancer(name, svc.LoadBalancer)
	}
	return nil, nil, errors.New("is empty: give it a loadBalancer with servers (or weighted, mirroring or failover)")
}

func (c *compiler) buildLoadBalancer(name string, lb *dynamic.LoadBalancer) (http.Handler, []string, error) {
	tc, err := c.transportConfig(lb.ServersTransport)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := c.balancerConfig(name, lb, tc)
	if err != nil {
		return nil, nil, err
	}
	servers := lb.Servers
	if lb.Server != nil && lb.Server.URL != "" {
		servers = append(append([]dynamic.Server(nil), servers...), *lb.Server)
	}
	built := make([]*upstream.Server, 0, len(servers))
	var urls []string
	for i, s := range servers {
		u, err := parseServerURL(s.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("servers[%d]: %w", i, err)
		}
		tcs := tc
		tcs.H2C = u.Scheme == "h2c"
		transport, err := c.opt.Transports.Get(tcs)
		if err != nil {
			return nil, nil, fmt.Errorf("serversTransport %q: %w", lb.ServersTransport, err)
		}
		weight := 1
		if s.Weight != nil {
			if weight = *s.Weight; weight < 0 {
				return nil, nil, fmt.Errorf("servers[%d]: weight %d is negative; 0 takes the server out of rotation", i, weight)
			}
		}
		fc := upstream.ForwardConfig{Transport: transport, PassHostHeader: lb.PassesHostHeader(), PreservePath: s.PreservePath,
			ServerHost: c.opt.ServerHost, Buffers: c.opt.Buffers, Log: cfg.Log}
		if lb.ResponseForwarding != nil {
			fc.FlushInterval = lb.ResponseForwarding.FlushInterval
		}
		built = append(built, upstream.NewServer(u, weight, fc))
		urls = append(urls, u.Redacted())
	}
	b, err := upstream.NewBalancer(c.ctx, built, cfg)
	if err != nil {
		return nil, nil, err
	}
	return b, urls, nil
}

// balancerConfig reads a load balancer's strategy, health checks and sticky cookie.
func (c *compiler) balancerConfig(name string, lb *dynamic.LoadBalancer, tc upstream.TransportConfig) (upstream.BalancerConfig, error) {
	cfg := upstream.BalancerConfig{Service: name, HashHeader: lb.HashHeader, Health: c.health(), Log: c.serviceLog(name)}
	var err error
	if cfg.Strategy, err = upstream.ParseStrategy(lb.Strategy); err != nil {
		return cfg, err
	}
	if lb.HashHeader != "" && cfg.Strategy != upstream.StrategyHRW {
		return cfg, fmt.Errorf("hashHeader %q only applies to strategy hrw, not %s", lb.HashHeader, cfg.Strategy)
	}
	if p := lb.PassiveHealthCheck; p != nil {
		if cfg.Passive, err = passiveConfig(p); err != nil {
			return cfg, err
		}
	}
	if hc := lb.HealthCheck; hc != nil {
		if cfg.HealthCheck, err = c.healthCheckConfig(hc, tc); err != nil {
			return cfg, err
		}
	}
	if lb.Sticky != nil && lb.Sticky.Cookie != nil {
		cfg.Sticky = cookieConfig(lb.Sticky.Cookie)
	}
	return cfg, nil
}

// serviceLog is the logger of one service. A child logger costs an allocation of half a
// kilobyte, which for 10,000 services is worth skipping when nothing is logged at all.
func (c *compiler) serviceLog(name string) zerolog.Logger {
	if c.opt.Log.GetLevel() == zerolog.Disabled {
		return c.opt.Log
	}
	return c.opt.Log.With().Str("service", name).Logger()
}

// health is the process-wide health store. Options.Health is set by the process; a table
// compiled without one (tests, `wharf check`) keeps health for itself.
func (c *compiler) health() *upstream.HealthStore {
	if c.opt.Health == nil {
		c.opt.Health = upstream.NewHealthStore()
	}
	return c.opt.Health
}

// Traefik's passive health check defaults: one failure within 10s takes a server out for 10s.
const (
	defaultFailureWindow     = 10 * time.Second
	defaultMaxFailedAttempts = 1
)

func passiveConfig(p *dynamic.PassiveHealthCheck) (*upstream.PassiveConfig, error) {
	pc := &upstream.PassiveConfig{Window: p.FailureWindow, MaxFailures: p.MaxFailedAttempts}
	if pc.Window < 0 || pc.MaxFailures < 0 {
		return nil, errors.New("passiveHealthCheck: failureWindow and maxFailedAttempts must not be negative")
	}
	if pc.Window == 0 {
		pc.Window = defaultFailureWindow
	}
	if pc.MaxFailures == 0 {
		pc.MaxFailures = defaultMaxFailedAttempts
	}
	var err error
	if pc.Status, err = upstream.ParseStatusSet(p.FailureStatus); err != nil {
		return nil, fmt.Errorf("passiveHealthCheck.failureStatus: %v", err)
	}
	return pc, nil
}

func (c *compiler) healthCheckConfig(hc *dynamic.HealthCheck, tc upstream.TransportConfig) (*upstream.HealthCheckConfig, error) {
	out := &upstream.HealthCheckConfig{Scheme: hc.Scheme, Path: hc.Path, Method: strings.ToUpper(hc.Method),
		Hostname: hc.Hostname, Port: hc.Port, Interval: hc.Interval, UnhealthyInterval: hc.UnhealthyInterval,
		Timeout: hc.Timeout, FollowRedirects: hc.FollowRedirects == nil || *hc.FollowRedirects}
	switch strings.ToLower(hc.Mode) {
	case "", "http":
		if hc.Path == "" {
			return nil, errors.New("healthCheck: path is required, for example /health (or mode: grpc)")
		}
	case "grpc":
		out.GRPC = true
		tc.H2C = true
		t, err := c.opt.Transports.Get(tc)
		if err != nil {
			return nil, err
		}
		out.H2C = t
	default:
		return nil, fmt.Errorf("healthCheck: mode %q is not http or grpc", hc.Mode)
	}
	switch strings.ToLower(hc.Scheme) {
	case "", "http", "https":
		out.Scheme = strings.ToLower(hc.Scheme)
	default:
		return nil, fmt.Errorf("healthCheck: scheme %q is not http or https", hc.Scheme)
	}
	if hc.Interval < 0 || hc.UnhealthyInterval < 0 || hc.Timeout < 0 {
		return nil, errors.New("healthCheck: interval, unhealthyInterval and timeout must not be negative")
	}
	if hc.Port < 0 || hc.Port > 65535 {
		return nil, fmt.Errorf("healthCheck: port %d is not between 1 and 65535", hc.Port)
	}
	statuses := hc.Statuses
	if hc.Status != 0 {
		statuses = append([]string{fmt.Sprint(hc.Status)}, statuses...)
	}
	var err error
	if out.Status, err = upstream.ParseStatusSet(statuses); err != nil {
		return nil, fmt.Errorf("healthCheck: %v", err)
	}
	if len(hc.Headers) > 0 {
		out.Headers = make(http.Header, len(hc.Headers))
		for k, v := range hc.Headers {
			out.Headers.Set(k, v)
		}
	}
	return out, nil
}

func cookieConfig(ck *dynamic.Cookie) *upstream.CookieConfig {
	return &upstream.CookieConfig{Name: ck.Name, Secure: ck.Secure, HTTPOnly: ck.HTTPOnly, SameSite: ck.SameSite,
		MaxAge: ck.MaxAge, Path: ck.Path, Domain: ck.Domain}
}

func parseServerURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is empty: give one like http://10.0.0.5:8080")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %v", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "h2c":
	default:
		return nil, fmt.Errorf("url %q: scheme %q is not http, https or h2c", raw, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	return u, nil
}

func (c *compiler) transportConfig(name string) (upstream.TransportConfig, error) {
	var tc upstream.TransportConfig
	if name == "" {
		return tc, nil
	}
	st, ok := c.cfg.HTTP.ServersTransports[name]
	if !ok {
		return tc, fmt.Errorf("serversTransport %q does not exist%s", name, dynamic.DidYouMean(name, sortedKeys(c.cfg.HTTP.ServersTransports)))
	}
	tc.ServerName = st.ServerName
	tc.InsecureSkipVerify = st.InsecureSkipVerify
	tc.RootCAs = strings.Join(st.RootCAs, "\n")
	if len(st.Certificates) > 0 {
		tc.ClientCert, tc.ClientKey = st.Certificates[0].CertFile, st.Certificates[0].KeyFile
	}
	tc.MaxIdleConnsPerHost = st.MaxIdleConnsPerHost
	tc.DisableHTTP2 = st.DisableHTTP2
	if ft := st.ForwardingTimeouts; ft != nil {
		tc.DialTimeout, tc.ResponseHeaderTimeout, tc.IdleConnTimeout = ft.DialTimeout, ft.ResponseHeaderTimeout, ft.IdleConnTimeout
	}
	return tc, nil
}

func (c *compiler) buildWeighted(name string, w *dynamic.Weighted) (http.Handler, error) {
	if len(w.Services) == 0 {
		return nil, errors.New("weighted: list the services to split traffic between, with their weights")
	}
	targets := make([]upstream.WeightedTarget, len(w.Services))
	for i, ws := range w.Services {
		h, err := c.child(ws.Name)
		if err != nil {
			return nil, fmt.Errorf("weighted.services[%d] %q: %v", i, ws.Name, err)
		}
		weight := 1
		if ws.Weight != nil {
			if weight = *ws.Weight; weight < 0 {
				return nil, fmt.Errorf("weighted.services[%d] %q: weight %d is negative", i, ws.Name, weight)
			}
		}
		targets[i] = upstream.WeightedTarget{Name: ws.Name, Handler: h, Weight: weight}
	}
	var ck *upstream.CookieConfig
	if w.Sticky != nil && w.Sticky.Cookie != nil {
		ck = cookieConfig(w.Sticky.Cookie)
	}
	return upstream.NewWeighted(name, targets, ck)
}

func (c *compiler) buildMirroring(name string, m *dynamic.Mirroring) (http.Handler, error) {
	if m.Service == "" {
		return nil, errors.New("mirroring: service is required: the one that answers the client")
	}
	main, err := c.child(m.Service)
	if err != nil {
		return nil, fmt.Errorf("mirroring.service %q: %v", m.Service, err)
	}
	mirrors := make([]*upstream.MirrorTarget, len(m.Mirrors))
	for i, mr := range m.Mirrors {
		if mr.Percent < 0 || mr.Percent > 100 {
			return nil, fmt.Errorf("mirroring.mirrors[%d] %q: percent %d is not between 0 and 100", i, mr.Name, mr.Percent)
		}
		h, err := c.child(mr.Name)
		if err != nil {
			return nil, fmt.Errorf("mirroring.mirrors[%d] %q: %v", i, mr.Name, err)
		}
		mirrors[i] = &upstream.MirrorTarget{Name: mr.Name, Handler: h, Percent: mr.Percent}
	}
	cfg := upstream.MirroringConfig{MirrorBody: m.MirrorBody == nil || *m.MirrorBody,
		Log: c.serviceLog(name)}
	if m.MaxBodySize != nil {
		// Traefik's -1 (no limit) reads as the default bound: a mirrored body is held in memory.
		cfg.MaxBodySize = *m.MaxBodySize
	}
	return upstream.NewMirroring(main, mirrors, cfg), nil
}

func (c *compiler) buildFailover(f *dynamic.Failover) (http.Handler, error) {
	if f.Service == "" || f.Fallback == "" {
		return nil, errors.New("failover: both service and fallback are required")
	}
	main, err := c.child(f.Service)
	if err != nil {
		return nil, fmt.Errorf("failover.service %q: %v", f.Service, err)
	}
	fallback, err := c.child(f.Fallback)
	if err != nil {
		return nil, fmt.Errorf("failover.fallback %q: %v", f.Fallback, err)
	}
	status, err := upstream.ParseStatusSet(f.Status)
	if err != nil {
		return nil, fmt.Errorf("failover.status: %v", err)
	}
	return upstream.NewFailover(main, fallback, status), nil
}
