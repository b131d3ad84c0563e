package tls

import (
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
)

// Route is what TLS needs to know about one HTTP router of the current table.
type Route struct {
	Name string // qualified (blog@docker), for messages
	Rule string
	// TLS is the router's effective TLS section: its own, or the one its entrypoint gives
	// every router (entryPoints.<name>.http.tls) when it has none. nil: plain HTTP.
	TLS    *dynamic.RouterTLS
	Source dynamic.Source
}

// StateFor derives the State of a routing table from its routers and the dynamic TLS
// configuration, so routing and TLS read rules the same way:
//
//   - Managed: for each router with a certificate resolver, its tls.domains (main and
//     SANs) when it has some, as Traefik does, and otherwise the exact names of its Host
//     rule that are not negated. Wildcards and HostRegexp never become names: a wildcard
//     certificate must be asked for in tls.domains (and needs DNS-01).
//   - OptionsForHost: each TLS router's options for the hosts its rule is limited to
//     (exact names and one-label wildcards). Two routers asking different options for one
//     host get DefaultOptions and a warning, as in Traefik; the router should still
//     refuse a request whose Host selects other options than its connection's SNI did.
//   - OnDemandAllowed: the hosts any TLS router's rule is limited to.
//
// Rules that do not parse are skipped silently: the router compiler reports them.
func StateFor(routes []Route, conf *dynamic.TLSConfiguration) (State, dynamic.Errors) {
	var s State
	var errs dynamic.Errors
	hosts := newHostTable()
	opts := newHostTable()
	for _, rt := range routes {
		if rt.TLS == nil {
			continue
		}
		r, err := rule.Parse(rt.Rule)
		if err != nil {
			continue
		}
		exact, wild, limited := r.HostConstraint()
		if limited {
			hosts.add(exact, wild, "")
		}
		if rt.TLS.CertResolver != "" {
			s.Managed = append(s.Managed, routeNames(rt, r)...)
		}
		if rt.TLS.Options != "" && limited {
			errs = append(errs, opts.addOptions(exact, wild, rt)...)
		}
	}
	s.OnDemandAllowed = hosts.matches
	s.OptionsForHost = opts.lookup
	if conf != nil {
		s.Certificates = conf.Certificates
		s.Options = conf.Options
		if st := conf.Stores["default"]; st != nil {
			s.DefaultCertificate = st.DefaultCertificate
		}
	}
	return s, errs
}

// routeNames are the names a router with a resolver asks certificates for.
func routeNames(rt Route, r *rule.Rule) []Name {
	if len(rt.TLS.Domains) > 0 {
		names := make([]Name, 0, len(rt.TLS.Domains))
		for _, d := range rt.TLS.Domains {
			names = append(names, Name{Host: d.Main, SANs: d.SANs, Resolver: rt.TLS.CertResolver, Source: rt.Source})
		}
		return names
	}
	var names []Name
	for _, h := range r.Hosts() {
		names = append(names, Name{Host: h, Resolver: rt.TLS.CertResolver, Source: rt.Source})
	}
	return names
}

// hostTable maps exact hosts and one-label wildcard suffixes to a value (an options name,
// or "" for plain membership). It is built once per table and read during handshakes.
type hostTable struct {
	exact map[string]string
	wild  map[string]string // by suffix without "*."
	by    map[string]string // host or "*.suffix" -> router that set it, for messages
	clash map[string]bool   // hosts already reported as conflicting
}

func newHostTable() *hostTable {
	return &hostTable{exact: map[string]string{}, wild: map[string]string{}, by: map[string]string{}, clash: map[string]bool{}}
}

func (t *hostTable) add(exact, wild []string, v string) {
	for _, h := range exact {
		t.exact[h] = v
	}
	for _, w := range wild {
		t.wild[w] = v
	}
}

// addOptions records a router's options for its hosts. A conflict resets the host to
// DefaultOptions for good (a later router cannot win it back by order).
func (t *hostTable) addOptions(exact, wild []string, rt Route) dynamic.Errors {
	var errs dynamic.Errors
	set := func(m map[string]string, key, shown string) {
		prev, ok := m[key]
		switch {
		case !ok:
			m[key], t.by[shown] = rt.TLS.Options, rt.Name
		case prev != rt.TLS.Options:
			if !t.clash[shown] {
				t.clash[shown] = true
				e := dynamic.Errorf(rt.Source, "router %q asks TLS options %q for %s, but router %q asks %q; %s gets the %q options",
					rt.Name, rt.TLS.Options, shown, t.by[shown], prev, shown, DefaultOptions)
				e.Warning = true
				errs = append(errs, e)
			}
			m[key] = DefaultOptions
		}
	}
	for _, h := range exact {
		set(t.exact, h, h)
	}
	for _, w := range wild {
		set(t.wild, w, "*."+w)
	}
	return errs
}

func (t *hostTable) wildKey(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 {
		return "", false
	}
	return host[i+1:], true
}

// lookup returns the value for a canonical host: exact first, then its one-label wildcard.
func (t *hostTable) lookup(host string) string {
	if v, ok := t.exact[host]; ok {
		return v
	}
	if k, ok := t.wildKey(host); ok {
		return t.wild[k]
	}
	return ""
}

func (t *hostTable) matches(host string) bool {
	if _, ok := t.exact[host]; ok {
		return true
	}
	k, ok := t.wildKey(host)
	if !ok {
		return false
	}
	_, ok = t.wild[k]
	return ok
}
