package main

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
	wtls "github.com/wharfproxy/wharf/tls"
)

func addrPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// tlsPort is the port TLS-ALPN-01 is answered on: the entrypoint listening on 443 when
// there is one, else the first TLS-marked entrypoint (entryPoints.<n>.http.tls, or the
// target of a redirect), by name.
func (a *app) tlsPort() int {
	best := 0
	for _, name := range sortedNames(a.cfg.EntryPoints) {
		ep := a.cfg.EntryPoints[name]
		p := addrPort(ep.Address)
		if p == 443 {
			return p
		}
		if best == 0 && (ep.HTTP.TLS != nil || a.isRedirectTarget(name)) {
			best = p
		}
	}
	return best
}

func (a *app) isRedirectTarget(name string) bool {
	for _, ep := range a.cfg.EntryPoints {
		if r := ep.HTTP.Redirections; r != nil && r.EntryPoint != nil && r.EntryPoint.To == name {
			return true
		}
	}
	return false
}

// newTLS builds the process's one certificate manager from the certificate resolvers.
func (a *app) newTLS() (*wtls.Manager, error) {
	c := wtls.Config{Log: a.log.With().Str("component", "tls").Logger()}
	tlsPort := a.tlsPort()
	for _, name := range sortedNames(a.cfg.CertificatesResolvers) {
		ac := a.cfg.CertificatesResolvers[name].ACME
		rc := wtls.ResolverConfig{Name: name, CA: ac.CAServer, Email: ac.Email, KeyType: ac.KeyType, Storage: ac.Storage,
			TrustedRoots: ac.CACertificates, Profile: ac.Profile, PreferredChain: ac.PreferredChain, TLSPort: tlsPort}
		if ac.EAB != nil {
			rc.EABKeyID, rc.EABHMACKey = ac.EAB.Kid, ac.EAB.HmacEncoded
		}
		switch {
		case ac.DNSChallenge != nil:
			d := ac.DNSChallenge
			rc.Challenge, rc.DNSProvider, rc.DNSDelay, rc.DNSResolvers, rc.DNSDisablePropagationCheck =
				wtls.ChallengeDNS, d.Provider, d.DelayBeforeCheck, d.Resolvers, d.DisablePropagationCheck
		case ac.HTTPChallenge != nil && ac.TLSChallenge != nil:
			// both: certmagic picks
		case ac.HTTPChallenge != nil:
			rc.Challenge = wtls.ChallengeHTTP
		default:
			rc.Challenge = wtls.ChallengeTLS
		}
		if h := ac.HTTPChallenge; h != nil {
			rc.HTTPPort = addrPort(a.cfg.EntryPoints[h.EntryPoint].Address)
		}
		if od := ac.OnDemand; od != nil {
			c.OnDemand = &wtls.OnDemand{Allow: od.Allow, Interval: od.Interval, Burst: od.Burst, Resolver: name}
		}
		c.Resolvers = append(c.Resolvers, rc)
	}
	return wtls.New(c)
}

// httpChallengeEntryPoints are the entrypoints that answer ACME HTTP-01 challenges.
func (a *app) httpChallengeEntryPoints() map[string]bool {
	out := map[string]bool{}
	for _, r := range a.cfg.CertificatesResolvers {
		if h := r.ACME.HTTPChallenge; h != nil {
			out[h.EntryPoint] = true
		}
	}
	return out
}

func (a *app) sameTLSOptions(sni, host string) bool {
	return a.tls.SameOptions(rule.CanonicalHost(sni), rule.CanonicalHost(host))
}

// updateTLS tells the certificate manager what the new table needs: the names of routers
// with a resolver, static certificates, and TLS options by host. It never waits for a CA.
func (a *app) updateTLS(info *router.Info, cfg *dynamic.Configuration) dynamic.Errors {
	var routes []wtls.Route
	for _, r := range info.Routers {
		if !r.Enabled {
			continue // a router that is not served needs no certificate
		}
		tlsSec := r.TLS
		for _, ep := range r.EntryPoints {
			if e := a.cfg.EntryPoints[ep]; tlsSec == nil && e != nil && e.HTTP.TLS != nil {
				tlsSec = &dynamic.RouterTLS{CertResolver: e.HTTP.TLS.CertResolver, Options: e.HTTP.TLS.Options, Domains: e.HTTP.TLS.Domains}
			}
		}
		routes = append(routes, wtls.Route{Name: r.Name, Rule: r.Rule, TLS: tlsSec, Source: r.Source})
	}
	st, errs := wtls.StateFor(routes, cfg.TLS)
	if err := a.tls.Update(context.Background(), st); err != nil {
		var es dynamic.Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
		} else {
			errs = append(errs, &dynamic.Error{Msg: "tls: " + err.Error()})
		}
	}
	return errs
}
