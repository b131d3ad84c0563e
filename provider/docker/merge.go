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
	memo           *memo // nil: merge every name
	routers        defs[*dynamic.Router]
	services       defs[*dynamic.Service]
	middlewares    defs[*dynamic.Middleware]
	tcpRouters     defs[*dynamic.TCPRouter]
	tcpServices    defs[*dynamic.TCPService]
	tcpMiddlewares defs[*dynamic.Middleware]
	udpRouters     defs[*dynamic.UDPRouter]
	udpServices    defs[*dynamic.UDPService]
}

func newMerger(memo *memo) *merger {
	return &merger{memo: memo, routers: defs[*dynamic.Router]{}, services: defs[*dynamic.Service]{},
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
	h.Routers, es = resolve(m.memo, "router", m.routers, same[*dynamic.Router], keepFirst[*dynamic.Router])
	errs = append(errs, es...)
	h.Services, es = resolve(m.memo, "service", m.services, sameService, poolServers)
	errs = append(errs, es...)
	h.Middlewares, es = resolve(m.memo, "middleware", m.middlewares, sameMiddleware, keepFirst[*dynamic.Middleware])
	errs = append(errs, es...)
	if len(m.tcpRouters)+len(m.tcpServices)+len(m.tcpMiddlewares) > 0 {
		cfg.TCP = &dynamic.TCPConfiguration{}
		cfg.TCP.Routers, es = resolve(m.memo, "tcp router", m.tcpRouters, same[*dynamic.TCPRouter], keepFirst[*dynamic.TCPRouter])
		errs = append(errs, es...)
		cfg.TCP.Services, es = resolve(m.memo, "tcp service", m.tcpServices, sameTCPService, poolTCPServers)
		errs = append(errs, es...)
		cfg.TCP.Middlewares, es = resolve(m.memo, "tcp middleware", m.tcpMiddlewares, sameMiddleware, keepFirst[*dynamic.Middleware])
		errs = append(errs, es...)
	}
	if len(m.udpRouters)+len(m.udpServices) > 0 {
		cfg.UDP = &dynamic.UDPConfiguration{}
		cfg.UDP.Routers, es = resolve(m.memo, "udp router", m.udpRouters, same[*dynamic.UDPRouter], keepFirst[*dynamic.UDPRouter])
		errs = append(errs, es...)
		cfg.UDP.Services, es = resolve(m.memo, "udp service", m.udpServices, sameUDPService, poolUDPServers)
		errs = append(errs, es...)
	}
	return cfg, errs
}

// resolve merges the definitions of each name, or drops a name whose definitions differ.
// A name whose definitions are the very items of the last conversion's merge is merged as
// it was then (comparing definitions costs reflection; replicas make many).
func resolve[T any](mm *memo, kind string, d defs[T], eq func(a, b T) bool, combine func(a, b T) T) (map[string]T, dynamic.Errors) {
	out := make(map[string]T, len(d))
	var errs dynamic.Errors
	for _, name := range sortedKeys(d) {
		list := d[name]
		if len(list) == 1 {
			out[name] = list[0].v // nothing to merge or compare
			continue
		}
		r := mergeOf(mm, kind, name, list, eq, combine)
		if r.err != nil {
			c := *r.err // callers may annotate it
			errs = append(errs, &c)
			continue
		}
		out[name] = r.v.(T)
	}
	return out, errs
}

func mergeDefs[T any](kind, name string, list []def[T], eq func(a, b T) bool, combine func(a, b T) T) merged {
	from := make([]any, len(list))
	for i, d := range list {
		from[i] = d.v
	}
	v := list[0].v
	for _, other := range list[1:] {
		if !eq(list[0].v, other.v) {
			return merged{from: from, err: conflict(kind, name, list)}
		}
		v = combine(v, other.v)
	}
	return merged{from: from, v: v}
}

// mergeOf is mergeDefs, or the last conversion's merge when it was made from the same
// items.
func mergeOf[T any](m *memo, kind, name string, list []def[T], eq func(a, b T) bool, combine func(a, b T) T) merged {
	if m == nil {
		return mergeDefs(kind, name, list, eq, combine)
	}
	key := kind + "\x00" + name
	r, found := m.merged[key]
	if !found || !sameDefs(r.from, list) {
		r = mergeDefs(kind, name, list, eq, combine)
	}
	m.nextMerged[key] = r
	return r
}

func sameDefs[T any](from []any, list []def[T]) bool {
	if len(from) != len(list) {
		return false
	}
	for i, d := range list {
		if from[i] != any(d.v) {
			return false
		}
	}
	return true
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
