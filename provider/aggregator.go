package provider

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Snapshot is the merged view of every provider, with names qualified (blog@docker) and
// references resolved to qualified names.
type Snapshot struct {
	Config *dynamic.Configuration
	Errors dynamic.Errors // every provider's problems, in a stable order
}

// Aggregator fans in the providers' messages, keeps the latest one per provider, and merges
// them. Bursts are coalesced: messages waiting in the channel are all read before one merge.
type Aggregator struct {
	latest map[string]Message
	last   *Snapshot
	// merged are the messages last is made of, and qualified the copies Merge made of their
	// routers and services, per provider, so that a merge reuses the copy of every item
	// that did not change (and the comparison with last passes over it at once).
	merged    map[string]Message
	qualified map[string]*qualified
	// Throttle is the minimum time between two applied snapshots; messages arriving
	// meanwhile are merged into the next one. Zero applies each change at once.
	Throttle time.Duration
}

// NewAggregator returns an aggregator with no provider heard from yet.
func NewAggregator() *Aggregator {
	return &Aggregator{latest: map[string]Message{}, qualified: map[string]*qualified{}}
}

// Run reads messages until ctx is done and calls apply with every merged snapshot that
// differs from the previous one.
func (a *Aggregator) Run(ctx context.Context, in <-chan Message, apply func(*Snapshot)) {
	var next time.Time // earliest time of the next apply, with a throttle
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-in:
			a.latest[m.Provider] = m
		}
		if wait := time.Until(next); wait > 0 {
			if !a.collect(ctx, in, time.After(wait)) {
				return
			}
		}
		a.collect(ctx, in, nil)
		if s, changed := a.Merge(); changed {
			apply(s)
			next = time.Now().Add(a.Throttle)
		}
	}
}

// collect records messages until until fires (or, when until is nil, until none is
// waiting). It reports false when ctx ended.
func (a *Aggregator) collect(ctx context.Context, in <-chan Message, until <-chan time.Time) bool {
	for {
		if until == nil {
			select {
			case m := <-in:
				a.latest[m.Provider] = m
				continue
			default:
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case m := <-in:
			a.latest[m.Provider] = m
		case <-until:
			return true
		}
	}
}

// Update records one message without merging (for callers that drive the loop themselves).
func (a *Aggregator) Update(m Message) { a.latest[m.Provider] = m }

// Merge merges the latest messages. changed is false when the result equals the previous one,
// so an unchanged snapshot never causes a rebuild.
func (a *Aggregator) Merge() (*Snapshot, bool) {
	if a.last != nil && a.unchanged() {
		return a.last, false
	}
	msgs := a.sortedMessages()
	next := make(map[string]*qualified, len(msgs))
	s := mergeMessages(msgs, func(provider string) *qualified {
		q := &qualified{prev: a.qualified[provider]}
		next[provider] = q
		return q
	})
	for _, q := range next {
		q.prev = nil // the copies still used moved to q; let the rest go
	}
	a.qualified = next
	a.merged = maps.Clone(a.latest)
	if a.last != nil && sameSnapshot(a.last, s) {
		return a.last, false
	}
	a.last = s
	return s, true
}

// unchanged reports whether every provider's latest message is the very one last merged:
// then the merge would give last again, and comparing it would cost as much as making it.
func (a *Aggregator) unchanged() bool {
	if len(a.latest) != len(a.merged) {
		return false
	}
	for name, m := range a.latest {
		p, ok := a.merged[name]
		if !ok || m.Provider != p.Provider || m.Config != p.Config || len(m.Errors) != len(p.Errors) ||
			len(m.Errors) > 0 && &m.Errors[0] != &p.Errors[0] {
			return false
		}
	}
	return true
}

func (a *Aggregator) sortedMessages() []Message {
	names := make([]string, 0, len(a.latest))
	for n := range a.latest {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Message, len(names))
	for i, n := range names {
		out[i] = a.latest[n]
	}
	return out
}

// Merge combines messages into one configuration. The providers' configurations are not
// modified: everything qualified is copied.
func Merge(msgs []Message) *Snapshot {
	return mergeMessages(msgs, func(string) *qualified { return nil })
}

// mergeMessages is Merge, with the qualified copies kept per provider by q.
func mergeMessages(msgs []Message, q func(provider string) *qualified) *Snapshot {
	out := dynamic.NewConfiguration()
	s := &Snapshot{Config: out}
	for _, m := range msgs {
		s.Errors = append(s.Errors, m.Errors...)
		if m.Config == nil {
			continue
		}
		s.Errors = append(s.Errors, mergeHTTP(out.HTTP, m.Config.HTTP, m.Provider, q(m.Provider))...)
		mergeTLS(out.TLS, m.Config.TLS, m.Provider)
		s.Errors = append(s.Errors, reportUnsupported(m.Config, m.Provider)...)
	}
	return s
}

func qualifiedName(name, provider string) (string, *dynamic.Error) {
	if strings.Contains(name, "@") {
		return "", &dynamic.Error{Msg: fmt.Sprintf("name %q must not contain @: the provider (@%s) is added by wharf", name, provider)}
	}
	return name + "@" + provider, nil
}

func mergeHTTP(dst, src *dynamic.HTTPConfiguration, provider string, q *qualified) dynamic.Errors {
	if src == nil {
		return nil
	}
	q.init(len(src.Routers), len(src.Services))
	var errs dynamic.Errors
	bad := func(e *dynamic.Error, s dynamic.Source) {
		e.Source = s
		errs = append(errs, e)
	}
	for name, r := range src.Routers {
		qn, err := qualifiedName(name, provider)
		if err != nil {
			bad(err, r.Source)
			continue
		}
		dst.Routers[qn] = q.router(r, provider)
	}
	for name, svc := range src.Services {
		qn, err := qualifiedName(name, provider)
		if err != nil {
			bad(err, svc.Source)
			continue
		}
		dst.Services[qn] = q.service(svc, provider)
	}
	for name, m := range src.Middlewares {
		q, err := qualifiedName(name, provider)
		if err != nil {
			bad(err, m.Source)
			continue
		}
		dst.Middlewares[q] = m
	}
	for name, st := range src.ServersTransports {
		q, err := qualifiedName(name, provider)
		if err != nil {
			bad(err, st.Source)
			continue
		}
		dst.ServersTransports[q] = st
	}
	// The maps were walked in Go's random order; the errors are few, the names many, so the
	// errors are what gets sorted: the same input must report the same list.
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

func qualifyRouter(r *dynamic.Router, provider string) *dynamic.Router {
	c := *r
	c.Service = dynamic.Qualify(r.Service, provider)
	c.Middlewares = make([]string, len(r.Middlewares))
	for i, m := range r.Middlewares {
		c.Middlewares[i] = dynamic.Qualify(m, provider)
	}
	if c.TLS != nil && c.TLS.Options != "" && c.TLS.Options != "default" {
		t := *c.TLS
		t.Options = dynamic.Qualify(t.Options, provider)
		c.TLS = &t
	}
	return &c
}

func qualifyService(svc *dynamic.Service, provider string) *dynamic.Service {
	c := *svc
	if lb := svc.LoadBalancer; lb != nil && lb.ServersTransport != "" {
		l := *lb
		l.ServersTransport = dynamic.Qualify(lb.ServersTransport, provider)
		c.LoadBalancer = &l
	}
	if w := svc.Weighted; w != nil {
		ww := *w
		ww.Services = make([]dynamic.WeightedService, len(w.Services))
		for i, s := range w.Services {
			s.Name = dynamic.Qualify(s.Name, provider)
			ww.Services[i] = s
		}
		c.Weighted = &ww
	}
	if m := svc.Mirroring; m != nil {
		mm := *m
		mm.Service = dynamic.Qualify(m.Service, provider)
		mm.Mirrors = make([]dynamic.Mirror, len(m.Mirrors))
		for i, x := range m.Mirrors {
			x.Name = dynamic.Qualify(x.Name, provider)
			mm.Mirrors[i] = x
		}
		c.Mirroring = &mm
	}
	if f := svc.Failover; f != nil {
		ff := *f
		ff.Service = dynamic.Qualify(f.Service, provider)
		ff.Fallback = dynamic.Qualify(f.Fallback, provider)
		c.Failover = &ff
	}
	return &c
}

func mergeTLS(dst, src *dynamic.TLSConfiguration, provider string) {
	if src == nil {
		return
	}
	dst.Certificates = append(dst.Certificates, src.Certificates...)
	for name, o := range src.Options {
		if dst.Options == nil {
			dst.Options = map[string]*dynamic.TLSOptions{}
		}
		if name != "default" {
			name = dynamic.Qualify(name, provider)
		}
		dst.Options[name] = o
	}
	for name, st := range src.Stores {
		if dst.Stores == nil {
			dst.Stores = map[string]*dynamic.TLSStore{}
		}
		dst.Stores[name] = st
	}
}

// reportUnsupported says out loud that TCP and UDP configuration is read but not served yet,
// rather than dropping it in silence.
func reportUnsupported(cfg *dynamic.Configuration, provider string) dynamic.Errors {
	var errs dynamic.Errors
	warn := func(kind, name string, src dynamic.Source) {
		errs = append(errs, &dynamic.Error{Source: src, Warning: true,
			Msg: fmt.Sprintf("%s %q: TCP and UDP routing is not supported yet; it is ignored", kind, dynamic.Qualify(name, provider))})
	}
	if cfg.TCP != nil {
		for _, n := range sortedKeys(cfg.TCP.Routers) {
			warn("tcp router", n, cfg.TCP.Routers[n].Source)
		}
		for _, n := range sortedKeys(cfg.TCP.Services) {
			warn("tcp service", n, cfg.TCP.Services[n].Source)
		}
	}
	if cfg.UDP != nil {
		for _, n := range sortedKeys(cfg.UDP.Routers) {
			warn("udp router", n, cfg.UDP.Routers[n].Source)
		}
		for _, n := range sortedKeys(cfg.UDP.Services) {
			warn("udp service", n, cfg.UDP.Services[n].Source)
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
