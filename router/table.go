// Package router compiles the dynamic configuration into an immutable routing table and
// serves requests from it. A new table is built beside the one serving and swapped in with
// one atomic store; requests in flight finish on the table they started with.
package router

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
	"github.com/wharfproxy/wharf/router/upstream"
)

// Table is one generation of routing: every entrypoint's routes with their compiled
// middleware chains and services. It is never modified after Compile returns.
type Table struct {
	eps    []epRoutes // by entrypoint index, as given to Compile
	info   Info
	cancel context.CancelFunc // stops this generation's background work
}

// Info describes a table for the API, the log and `wharf check`.
type Info struct {
	Routers     []RouterInfo
	Services    []ServiceInfo
	Middlewares []MiddlewareInfo
	Errors      dynamic.Errors // every problem, from the providers and from compiling
}

// RouterInfo is one router as compiled.
type RouterInfo struct {
	Name        string
	Rule        string
	Priority    int
	EntryPoints []string
	Service     string
	Middlewares []string
	TLS         *dynamic.RouterTLS
	Enabled     bool
	Errors      []string
	Source      dynamic.Source
}

// ServiceInfo is one service as compiled.
type ServiceInfo struct {
	Name    string
	Servers []string
	Enabled bool
	Errors  []string
	UsedBy  []string
	Source  dynamic.Source
	Type    string // loadBalancer, weighted, mirroring or failover
	handler http.Handler
}

// ServerStatus is each server's live state (up or down, why, since when, requests in
// flight), read when called: health changes without a new table. It is nil for a service
// that has no servers of its own (weighted, mirroring, failover) or did not compile.
func (s ServiceInfo) ServerStatus() []upstream.ServerStatus {
	if b, ok := s.handler.(*upstream.Balancer); ok {
		return b.Status()
	}
	return nil
}

// Healthy reports whether the service can answer now: a load balancer with a healthy
// server, or a service made of services whose children can.
func (s ServiceInfo) Healthy() bool {
	h, ok := s.handler.(upstream.Healther)
	return s.handler != nil && (!ok || h.Healthy())
}

// MiddlewareInfo is one middleware as compiled.
type MiddlewareInfo struct {
	Name    string
	Type    string
	Enabled bool
	Errors  []string
	UsedBy  []string
	Source  dynamic.Source
}

// Info returns the description of the table. It must not be modified.
func (t *Table) Info() *Info { return &t.info }

// Close stops the generation's background work (health checks). Requests may still be served
// from a closed table: they finish normally.
func (t *Table) Close() {
	if t.cancel != nil {
		t.cancel()
	}
}

type epRoutes struct {
	plain, secure hostIndex // routers without and with TLS
}

// route is one router on one entrypoint, ready to serve.
type route struct {
	name     string
	rule     *rule.Rule
	priority int
	rank     int // position in the global order: lower matches first
	handler  http.Handler
}

// hostIndex finds the routes that can match a host without scanning all of them: exact
// hosts are looked up in a map, `*.example.com` by the host's parent domain, and routes
// whose rule does not pin the host are tried for every request. Each list is merged and
// sorted once, at compile time, so a lookup is one or two map reads.
type hostIndex struct {
	exact    map[string][]*route
	wildcard map[string][]*route
	any      []*route
}

func (x *hostIndex) candidates(host string) []*route {
	if l, ok := x.exact[host]; ok {
		return l
	}
	if i := strings.IndexByte(host, '.'); i >= 0 {
		if l, ok := x.wildcard[host[i+1:]]; ok {
			return l
		}
	}
	return x.any
}

type indexedRoute struct {
	r         *route
	exact     []string
	wildcards []string
	pinned    bool
}

func buildIndex(routes []*route) hostIndex {
	items := make([]indexedRoute, 0, len(routes))
	x := hostIndex{exact: make(map[string][]*route, len(routes)), wildcard: map[string][]*route{}}
	for _, r := range routes {
		exact, wild, ok := r.rule.HostConstraint()
		items = append(items, indexedRoute{r: r, exact: exact, wildcards: wild, pinned: ok})
		if !ok {
			x.any = append(x.any, r)
		}
	}
	for _, it := range items {
		if !it.pinned {
			continue
		}
		for _, w := range it.wildcards {
			x.wildcard[w] = append(x.wildcard[w], it.r)
		}
		for _, h := range it.exact {
			x.exact[h] = append(x.exact[h], it.r)
		}
	}
	// An exact host can also be matched by a wildcard route (a.example.com by
	// *.example.com) and by every unpinned route.
	for h, l := range x.exact {
		if i := strings.IndexByte(h, '.'); i >= 0 {
			l = append(l, x.wildcard[h[i+1:]]...)
		}
		x.exact[h] = sortRoutes(append(l, x.any...))
	}
	for w, l := range x.wildcard {
		x.wildcard[w] = sortRoutes(append(l, x.any...))
	}
	x.any = sortRoutes(x.any)
	return x
}

// sortRoutes orders by rank and removes duplicates (a route listing a host twice).
func sortRoutes(l []*route) []*route {
	if len(l) < 2 {
		return l // most hosts have one route: no sort, and no allocation for one
	}
	slices.SortFunc(l, func(a, b *route) int { return cmp.Compare(a.rank, b.rank) })
	out := l[:0]
	for i, r := range l {
		if i == 0 || r != l[i-1] {
			out = append(out, r)
		}
	}
	return out
}
