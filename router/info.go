package router

import "github.com/wharfproxy/wharf/router/dynamic"

// reportUnused compiles the services and middlewares that no router names, so that their
// mistakes are reported now rather than when a router starts using them.
func (c *compiler) reportUnused() {
	for _, name := range sortedKeys(c.cfg.HTTP.Services) {
		c.service(name)
	}
	for _, name := range sortedKeys(c.cfg.HTTP.Middlewares) {
		c.middleware(name)
	}
}

func (c *compiler) info() Info {
	info := Info{Routers: c.routerInfo, Errors: c.errs}
	if len(c.services) > 0 {
		info.Services = make([]ServiceInfo, 0, len(c.services))
	}
	if len(c.middlewares) > 0 {
		info.Middlewares = make([]MiddlewareInfo, 0, len(c.middlewares))
	}
	for _, name := range sortedKeys(c.services) {
		s, def := c.services[name], c.cfg.HTTP.Services[name]
		if def == nil {
			continue // a dangling reference: reported on the router that made it
		}
		si := ServiceInfo{Name: name, Servers: s.servers, Enabled: s.err == nil, UsedBy: c.usedBy[name], Source: def.Source,
			Type: serviceType(def), handler: s.handler}
		if s.err != nil {
			si.Errors = []string{s.err.Error()}
		}
		info.Services = append(info.Services, si)
	}
	for _, name := range sortedKeys(c.middlewares) {
		m, def := c.middlewares[name], c.cfg.HTTP.Middlewares[name]
		if def == nil {
			continue
		}
		mi := MiddlewareInfo{Name: name, Type: m.typ, Enabled: m.err == nil, UsedBy: c.usedBy[name], Source: def.Source}
		if m.err != nil {
			mi.Errors = []string{m.err.Error()}
		}
		info.Middlewares = append(info.Middlewares, mi)
	}
	return info
}

func serviceType(s *dynamic.Service) string {
	switch {
	case s.LoadBalancer != nil:
		return "loadBalancer"
	case s.Weighted != nil:
		return "weighted"
	case s.Mirroring != nil:
		return "mirroring"
	case s.Failover != nil:
		return "failover"
	}
	return ""
}
