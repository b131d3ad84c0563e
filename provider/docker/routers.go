package docker

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// httpRouters completes the container's routers: a default router when it declares none,
// the default rule where a router has no rule, and the container's only service where a
// router names none.
func (cv *converter) httpRouters(c *Container, cfg *dynamic.Configuration, name string) dynamic.Errors {
	h := cfg.HTTP
	var errs dynamic.Errors
	if !cv.declared(c, "http.routers.") {
		switch {
		case len(h.Services) == 1:
			h.Routers[name] = &dynamic.Router{Source: cv.source(c, "")}
		case len(h.Services) > 1:
			errs = append(errs, &dynamic.Error{Source: cv.source(c, ""), Warning: true, Msg: fmt.Sprintf(
				"declares several services (%s) and no router, so none of them is reachable; declare routers with %shttp.routers.<name>.service",
				quoteList(sortedKeys(h.Services)), cv.prefix)})
		}
	}
	for _, rname := range sortedKeys(h.Routers) {
		r := h.Routers[rname]
		label := cv.prefix + "http.routers." + rname
		if err := cv.completeRouter(c, &r.Rule, &r.Service, h.Services, label, name); err != nil {
			err.Msg += fmt.Sprintf(" (router %q is left out)", rname)
			errs = append(errs, err)
			delete(h.Routers, rname)
		}
	}
	return errs
}

// completeRouter fills a router's rule and service from the defaults. It serves HTTP and
// TCP routers alike, which is why it takes the two fields rather than a router.
func (cv *converter) completeRouter(c *Container, rule, service *string, services map[string]*dynamic.Service, label, name string) *dynamic.Error {
	if strings.TrimSpace(*rule) == "" {
		r, err := defaultRule(cv.rule, c, name)
		if err != nil {
			return &dynamic.Error{Source: cv.source(c, label+".rule"), Msg: fmt.Sprintf("the default rule template failed: %v; set this label", err)}
		}
		if r == "" {
			return &dynamic.Error{Source: cv.source(c, label+".rule"), Msg: "the default rule template gives an empty rule for this container; set this label"}
		}
		*rule = r
	}
	if strings.TrimSpace(*service) != "" {
		return nil
	}
	names := sortedKeys(services)
	switch len(names) {
	case 1:
		*service = names[0]
		return nil
	case 0:
		return &dynamic.Error{Source: cv.source(c, label+".service"), Msg: "no service given, and the container has no usable service to default to; set this label"}
	}
	return &dynamic.Error{Source: cv.source(c, label+".service"), Msg: fmt.Sprintf(
		"no service given, and the container has several (%s); set this label to one of them", quoteList(names))}
}

// tcpUDP fills the addresses of TCP and UDP services. wharf does not route TCP or UDP yet
// (the aggregator says so); reading them fully now means a mistake is reported today and
// the configuration is ready when routing lands.
func (cv *converter) tcpUDP(c *Container, cfg *dynamic.Configuration, t target, name string) dynamic.Errors {
	var errs dynamic.Errors
	if tc := cfg.TCP; tc != nil {
		if len(tc.Services) == 0 && len(tc.Routers) > 0 {
			tc.Services[name] = &dynamic.TCPService{LoadBalancer: &dynamic.TCPLoadBalancer{}, Source: cv.source(c, "")}
		}
		for _, sname := range sortedKeys(tc.Services) {
			svc := tc.Services[sname]
			if svc.LoadBalancer == nil {
				svc.LoadBalancer = &dynamic.TCPLoadBalancer{}
			}
			lb := svc.LoadBalancer
			addr, err := cv.l4Address(c, lb.Server, "tcp", t, cv.prefix+"tcp.services."+sname+".loadbalancer.server.port")
			if err != nil {
				errs = append(errs, err)
				delete(tc.Services, sname)
				continue
			}
			tlsOn := lb.Server != nil && lb.Server.TLS
			lb.Server, lb.Servers = nil, nil
			if addr != "" {
				lb.Servers = []dynamic.TCPServer{{Address: addr, TLS: tlsOn}}
			}
		}
		for _, rname := range sortedKeys(tc.Routers) {
			r := tc.Routers[rname]
			if r.Service == "" && len(tc.Services) == 1 {
				r.Service = sortedKeys(tc.Services)[0]
			}
		}
	}
	if uc := cfg.UDP; uc != nil {
		for _, sname := range sortedKeys(uc.Services) {
			svc := uc.Services[sname]
			if svc.LoadBalancer == nil {
				svc.LoadBalancer = &dynamic.UDPLoadBalancer{}
			}
			var spec *dynamic.TCPServer
			if s := svc.LoadBalancer.Server; s != nil {
				spec = &dynamic.TCPServer{Port: s.Port}
			}
			addr, err := cv.l4Address(c, spec, "udp", t, cv.prefix+"udp.services."+sname+".loadbalancer.server.port")
			if err != nil {
				errs = append(errs, err)
				delete(uc.Services, sname)
				continue
			}
			svc.LoadBalancer.Server, svc.LoadBalancer.Servers = nil, nil
			if addr != "" {
				svc.LoadBalancer.Servers = []dynamic.UDPServer{{Address: addr}}
			}
		}
		for _, r := range uc.Routers {
			if r.Service == "" && len(uc.Services) == 1 {
				r.Service = sortedKeys(uc.Services)[0]
			}
		}
	}
	return errs
}

// l4Address is host:port for a TCP or UDP server, "" when the container has no address.
func (cv *converter) l4Address(c *Container, spec *dynamic.TCPServer, proto string, t target, label string) (string, *dynamic.Error) {
	if spec != nil && spec.Address != "" {
		return "", &dynamic.Error{Source: cv.source(c, label), Msg: "servers are not given by address in labels: wharf takes the container's address; set the port"}
	}
	raw := ""
	if spec != nil {
		raw = strings.TrimSpace(spec.Port)
	}
	port, err := cv.port(c, raw, proto, label)
	if err != nil {
		return "", err
	}
	if t.ip == "" {
		return "", nil
	}
	return net.JoinHostPort(t.ip, strconv.Itoa(port)), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
