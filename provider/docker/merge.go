package docker

import (
	"fmt"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// def is one container's definition of a named item.
type def[T any] struct {
	c *Container
	v T
}

// defs collects every container's definitions of one kind of item, by name.
type defs[T any] map[string][]def[T]

func (d defs[T]) add(c *Container, items map[string]T) {
	for name, v := range items {
		d[name] = append(d[name], def[T]{c, v})
	}
}

// merger gathers the containers' configurations; result merges them. Replicas declare the
// same items with the same labels, so identical definitions merge (a service's servers are
// pooled). Different definitions under one name are a conflict no order could settle
// fairly: all of them are dropped and the error names every container involved.
type merger struct {
	routers        defs[*dynamic.Router]
	services       defs[*dynamic.Service]
	middlewares    defs[*dynamic.Middleware]
	tcpRouters     defs[*dynamic.TCPRouter]
	tcpServices    defs[*dynamic.TCPService]
	tcpMiddlewares defs[*dynamic.Middleware]
	udpRouters     defs[*dynamic.UDPRouter]
	udpServices    defs[*dynamic.UDPService]
}

func newMerger() *merger {
	return &merger{routers: defs[*dynamic.Router]{}, services: defs[*dynamic.Service]{},
		middlewares: defs[*dynamic.Middleware]{}, tcpRouters: defs[*dynamic.TCPRouter]{},
		tcpServices: defs[*dynamic.TCPService]{}, tcpMiddlewares: defs[*dynamic.Middleware]{},
		udpRouters: defs[*dynamic.UDPRouter]{}, udpServices: defs[*dynamic.UDPService]{}}
}

func (m *merger) add(c *Container, cfg *dynamic.Configuration) {
	m.routers.add(c, cfg.HTTP.Routers)
	m.services.add(c, cfg.HTTP.Services)
	m.middlewares.add(c, cfg.HTTP.Middlewares)
	if cfg.TCP != nil {
		m.tcpRouters.add(c, cfg.TCP.Routers)
		m.tcpServices.add(c, cfg.TCP.Services)
		m.tcpMiddlewares.add(c, cfg.TCP.Middlewares)
	}
	if cfg.UDP != nil {
		m.udpRouters.add(c, cfg.UDP.Routers)
		m.udpServices.add(c, cfg.UDP.Services)
	}
}

func (m *merger) result() (*dynamic.Configuration, dynamic.Errors) {
	cfg := dynamic.NewConfiguration()
	var errs, es dynamic.Errors
	h := cfg.HTTP
	h.Routers, es = resolve("router", m.routers, same[*dynamic.Router], keepFirst[*dynamic.Router])
	errs = append(errs, es...)
	h.Services, es = resolve("service", m.services, sameService, poolServers)
	errs = append(errs, es...)
	h.Middlewares, es = resolve("middleware", m.middlewares, sameMiddleware, keepFirst[*dynamic.Middleware])
	errs = append(errs, es...)
	if len(m.tcpRouters)+len(m.tcpServices)+len(m.tcpMiddlewares) > 0 {
		cfg.TCP = &dynamic.TCPConfiguration{}
		cfg.TCP.Routers, es = resolve("tcp router", m.tcpRouters, same[*dynamic.TCPRouter], keepFirst[*dynamic.TCPRouter])
		errs = append(errs, es...)
		cfg.TCP.Services, es = resolve("tcp service", m.tcpServices, sameTCPService, poolTCPServers)
		errs = append(errs, es...)
		cfg.TCP.Middlewares, es = resolve("tcp middleware", m.tcpMiddlewares, sameMiddleware, keepFirst[*dynamic.Middleware])
		errs = append(errs, es...)
	}
	if len(m.udpRouters)+len(m.udpServices) > 0 {
		cfg.UDP = &dynamic.UDPConfiguration{}
		cfg.UDP.Routers, es = resolve("udp router", m.udpRouters, same[*dynamic.UDPRouter], keepFirst[*dynamic.UDPRouter])
		errs = append(errs, es...)
		cfg.UDP.Services, es = resolve("udp service", m.udpServices, sameUDPService, poolUDPServers)
		errs = append(errs, es...)
	}
	return cfg, errs
}

// resolve merges the definitions of each name, or drops a name whose definitions differ.
func resolve[T any](kind string, d defs[T], eq func(a, b T) bool, combine func(a, b T) T) (map[string]T, dynamic.Errors) {
	out := make(map[string]T, len(d))
	var errs dynamic.Errors
	for _, name := range sortedKeys(d) {
		list := d[name]
		merged, ok := list[0].v, true
		for _, other := range list[1:] {
			if !eq(list[0].v, other.v) {
				ok = false
				break
			}
			merged = combine(merged, other.v)
		}
		if ok {
			out[name] = merged
			continue
		}
		errs = append(errs, conflict(kind, name, list))
	}
	return out, errs
}

func conflict[T any](kind, name string, list []def[T]) *dynamic.Error {
	var who []string
	for _, d := range list {
		who = append(who, fmt.Sprintf("%q (%s)", d.c.Name, dynamic.ShortID(d.c.ID)))
	}
	return &dynamic.Error{Source: dynamic.Source{Provider: "docker", Container: list[0].c.Name, ContainerID: list[0].c.ID},
		Msg: fmt.Sprintf("%s %q is defined differently by containers %s; every definition is dropped: make them identical or rename one",
			kind, name, strings.Join(who, " and "))}
}

func keepFirst[T any](a, _ T) T { return a }

func same[T any](a, b T) bool { return dynamic.SameDefinition(a, b) }

func sameMiddleware(a, b *dynamic.Middleware) bool {
	return strings.EqualFold(a.Type, b.Type) && same(a.Options, b.Options)
}

// sameService compares everything but the servers, which each replica contributes.
func sameService(a, b *dynamic.Service) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil {
		return same(a, b)
	}
	la, lb := *a.LoadBalancer, *b.LoadBalancer
	la.Servers, lb.Servers = nil, nil
	return same(&la, &lb)
}

func poolServers(a, b *dynamic.Service) *dynamic.Service {
	c, lb := *a, *a.LoadBalancer
	lb.Servers = append(append([]dynamic.Server(nil), a.LoadBalancer.Servers...), b.LoadBalancer.Servers...)
	c.LoadBalancer = &lb
	return &c
}

func sameTCPService(a, b *dynamic.TCPService) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil {
		return same(a, b)
	}
	la, lb := *a.LoadBalancer, *b.LoadBalancer
	la.Servers, lb.Servers = nil, nil
	return same(&la, &lb)
}

func poolTCPServers(a, b *dynamic.TCPService) *dynamic.TCPService {
	c, lb := *a, *a.LoadBalancer
	lb.Servers = append(append([]dynamic.TCPServer(nil), a.LoadBalancer.Servers...), b.LoadBalancer.Servers...)
	c.LoadBalancer = &lb
	return &c
}

func sameUDPService(a, b *dynamic.UDPService) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil {
		return same(a, b)
	}
	la, lb := *a.LoadBalancer, *b.LoadBalancer
	la.Servers, lb.Servers = nil, nil
	return same(&la, &lb)
}

func poolUDPServers(a, b *dynamic.UDPService) *dynamic.UDPService {
	c, lb := *a, *a.LoadBalancer
	lb.Servers = append(append([]dynamic.UDPServer(nil), a.LoadBalancer.Servers...), b.LoadBalancer.Servers...)
	c.LoadBalancer = &lb
	return &c
}
