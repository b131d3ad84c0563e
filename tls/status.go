package tls

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"github.com/prometheus/client_golang/prometheus"
)

// CertInfo describes one certificate wharf serves or is trying to obtain.
type CertInfo struct {
	Names     []string
	Issuer    string // the issuing CA's common name; "" while none has been obtained
	Resolver  string // "" for static and default certificates
	NotAfter  time.Time
	LastError string // the last failure to obtain or renew; cleared by a success
	Managed   bool   // obtained and renewed by wharf (ACME)
	Default   bool   // the default certificate
}

// statusBook remembers, per name, the last ACME failure and how long the CA asked wharf to
// wait. certmagic reports both through events; nothing else keeps them.
type statusBook struct {
	mu        sync.Mutex
	lastErr   map[string]string
	notBefore map[string]time.Time
}

func newStatusBook() *statusBook {
	return &statusBook{lastErr: map[string]string{}, notBefore: map[string]time.Time{}}
}

func (b *statusBook) failed(name string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr[name] = err.Error()
	if t, ok := retryAfter(err); ok {
		b.notBefore[name] = t
	}
}

// forget drops what is known about a name no router needs any more.
func (b *statusBook) forget(name string) { b.obtained(name) }

func (b *statusBook) obtained(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.lastErr, name)
	delete(b.notBefore, name)
}

func (b *statusBook) lastError(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr[name]
}

// gate returns the time before which the CA asked not to be asked again for name.
func (b *statusBook) gate(name string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.notBefore[name]
	if ok && time.Now().After(t) {
		delete(b.notBefore, name)
		return time.Time{}, false
	}
	return t, ok
}

// onEvent is certmagic's event hook for one resolver. Returning an error from
// cert_obtaining cancels that attempt: that is how a rate limit's "retry after" is honored,
// since certmagic's own retry schedule (1, 2, 2, 5, 10 minutes, ...) does not read it.
func (b *statusBook) onEvent(resolver string, m *Manager) func(context.Context, string, map[string]any) error {
	return func(_ context.Context, event string, data map[string]any) error {
		id, _ := data["identifier"].(string)
		switch event {
		case "cert_obtaining":
			if t, ok := b.gate(id); ok {
				return fmt.Errorf("the CA asked to wait until %s before asking again for %s", t.UTC().Format(time.RFC3339), id)
			}
		case "cert_failed":
			if err, ok := data["error"].(error); ok {
				b.failed(id, err)
			}
		case "cert_obtained":
			b.obtained(id)
			m.log.Info().Str("name", id).Str("resolver", resolver).Bool("renewal", data["renewal"] == true).Msg("certificate obtained")
		case "cached_managed_cert":
			// An issuance started before a reload may finish after the reload dropped its
			// name: take such a certificate back out of the cache (not from inside the
			// hook, which runs under certmagic's own calls).
			if sans, ok := data["sans"].([]string); ok && m.resolverFor(sans) == nil {
				go m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: sans[0]}})
			}
		}
		return nil
	}
}

// Let's Encrypt (Boulder) writes the end of a rate limit into the problem detail:
// "too many certificates ... retry after 2025-01-08 16:46:15 UTC: see https://...".
var retryAfterRE = regexp.MustCompile(`retry after (\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})`)

// retryAfter extracts the time a rate-limited CA asked the client to wait for.
func retryAfter(err error) (time.Time, bool) {
	var p acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemTypeRateLimited {
		return time.Time{}, false
	}
	m := retryAfterRE.FindStringSubmatch(p.Detail)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15:04:05", strings.Replace(m[1], "T", " ", 1))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// Certificates lists the certificates wharf serves and the names it is still obtaining:
// managed (ACME) names of the current table, on-demand certificates, static certificates
// and the default certificate. The observability API serves it.
func (m *Manager) Certificates() []CertInfo {
	var out []CertInfo
	seen := map[string]bool{} // cert hashes already listed
	w := *m.wanted.Load()
	for _, name := range keys(w) {
		out = append(out, m.managedInfo(name, w[name].name, seen)...)
	}
	if m.onDemand != nil {
		for _, name := range m.onDemand.list() {
			if w[name] == nil {
				out = append(out, m.managedInfo(name, m.onDemand.r.name, seen)...)
			}
		}
	}
	s := m.state.Load()
	for _, e := range s.static.entries {
		out = append(out, staticInfo(e, false))
	}
	out = append(out, staticInfo(s.def, true))
	return out
}

func (m *Manager) managedInfo(name, resolver string, seen map[string]bool) []CertInfo {
	var out []CertInfo
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if !slices.Contains(c.Names, name) || seen[c.Hash()] || c.Leaf == nil {
			continue
		}
		seen[c.Hash()] = true
		out = append(out, CertInfo{Names: slices.Clone(c.Names), Issuer: c.Leaf.Issuer.CommonName, Resolver: resolver,
			NotAfter: c.Leaf.NotAfter, LastError: m.book.lastError(name), Managed: true})
	}
	if len(out) == 0 {
		out = append(out, CertInfo{Names: []string{name}, Resolver: resolver, LastError: m.book.lastError(name), Managed: true})
	}
	return out
}

func staticInfo(e *certEntry, def bool) CertInfo {
	leaf := e.cert.Leaf
	names := slices.Clone(e.names)
	if len(names) == 0 {
		names = []string{leaf.Subject.CommonName}
	}
	return CertInfo{Names: names, Issuer: leaf.Issuer.CommonName, NotAfter: leaf.NotAfter, Default: def}
}

// expiryCollector exports each name's certificate expiry, computed at scrape time from
// Certificates, so the gauge can never disagree with what is served.
type expiryCollector struct {
	m    *Manager
	desc *prometheus.Desc
}

func newExpiryCollector(m *Manager) *expiryCollector {
	return &expiryCollector{m: m, desc: prometheus.NewDesc(
		"wharf_tls_certificate_not_after_seconds",
		"When the certificate served for a name expires, as a Unix timestamp (static certificates have resolver \"\").",
		[]string{"name", "resolver"}, nil)}
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ name, resolver string }
	latest := map[key]time.Time{}
	for _, ci := range c.m.Certificates() {
		if ci.Default || ci.NotAfter.IsZero() {
			continue
		}
		for _, n := range ci.Names {
			k := key{n, ci.Resolver}
			if ci.NotAfter.After(latest[k]) {
				latest[k] = ci.NotAfter // one series per name: the certificate that expires last
			}
		}
	}
	for k, t := range latest {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(t.Unix()), k.name, k.resolver)
	}
}
