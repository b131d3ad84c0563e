package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
		c.fail(svc.Source, "service %q: %v", name, s.err)
	}
	return s
}

func (c *compiler) buildService(name string, svc *dynamic.Service) (http.Handler, []string, error) {
	if svc.LoadBalancer == nil {
		if svc.Weighted != nil || svc.Mirroring != nil || svc.Failover != nil {
			return nil, nil, errors.New("weighted, mirroring and failover services are not supported yet; use loadBalancer")
		}
		return nil, nil, errors.New("has no loadBalancer: add servers")
	}
	lb := svc.LoadBalancer
	tc, err := c.transportConfig(lb.ServersTransport)
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
			weight = *s.Weight
		}
		fc := upstream.ForwardConfig{Transport: transport, PassHostHeader: lb.PassesHostHeader(),
			ServerHost: c.opt.ServerHost, Buffers: c.opt.Buffers,
			Log: c.opt.Log.With().Str("service", name).Logger()}
		if lb.ResponseForwarding != nil {
			fc.FlushInterval = lb.ResponseForwarding.FlushInterval
		}
		built = append(built, upstream.NewServer(u, weight, fc))
		urls = append(urls, u.Redacted())
	}
	return upstream.NewWRR(built), urls, nil
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
