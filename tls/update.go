package tls

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
)

// Name is one certificate to keep: Host and each of SANs get a certificate of their own
// from Resolver (certmagic manages one name per certificate).
type Name struct {
	Host     string
	Resolver string
	SANs     []string
	Source   dynamic.Source // where the router or tls.domains entry was written
}

// State is what the current routing table needs from TLS. StateFor derives it from the
// routers and the dynamic TLS configuration.
type State struct {
	// Managed are the names to certify: exact hosts from the Host rules of routers with a
	// certificate resolver, plus their tls.domains.
	Managed []Name
	// Certificates are the static certificates from providers.
	Certificates []dynamic.Certificate
	// DefaultCertificate replaces the configured (or generated) default certificate when
	// set (tls.stores.default.defaultCertificate).
	DefaultCertificate *dynamic.Certificate
	// Options are the TLS options by qualified name; DefaultOptions applies when a router
	// names none (a built-in TLS 1.2+ set when it is not defined here).
	Options map[string]*dynamic.TLSOptions
	// OptionsForHost maps a canonical SNI to the name of its options ("": DefaultOptions).
	// It is called during handshakes and must be fast and safe for concurrent use.
	OptionsForHost func(host string) string
	// OnDemandAllowed reports whether a canonical host matches a current router's Host
	// rule; with on-demand TLS on, such a host may get a certificate at its first handshake.
	OnDemandAllowed func(host string) bool
}

// managedName is a name under management, with the context that stops its issuance and
// retries when the table stops needing it.
type managedName struct {
	r      *resolver
	cancel context.CancelFunc
}

// Update makes the Manager serve what s describes. It loads static certificates and
// compiles options first; a certificate or an options set that fails keeps its previous
// good version (if any) serving, and every problem is returned as dynamic.Errors naming its
// source (warnings have Warning set). Then names no longer needed stop being renewed, and
// new names are loaded from storage at once or obtained in the background: Update never
// waits for a CA. ctx only bounds the wait for stored certificates to load (at most
// loadWait in any case); management itself lives until Close.
func (m *Manager) Update(ctx context.Context, s State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.state.Load()
	next := &snapshot{optionsFor: s.OptionsForHost, onDemandAllowed: s.OnDemandAllowed, cfgDefault: prev.cfgDefault}
	var errs, e dynamic.Errors
	next.options, e = m.buildOptions(prev, s.Options)
	errs = append(errs, e...)
	next.static, e = buildStatic(prev, s.Certificates)
	errs = append(errs, e...)
	next.def, e = buildDefault(prev, s.DefaultCertificate)
	errs = append(errs, e...)
	m.state.Store(next)
	errs = append(errs, m.manageNames(ctx, s.Managed)...)
	if m.onDemand != nil {
		m.onDemand.sweep(next)
	}
	return errs.Err()
}

func (m *Manager) buildOptions(prev *snapshot, in map[string]*dynamic.TLSOptions) (map[string]*optionSet, dynamic.Errors) {
	out := map[string]*optionSet{}
	var errs dynamic.Errors
	for _, name := range keys(in) {
		o := in[name]
		if o == nil {
			continue
		}
		old := prev.options[name]
		if old != nil && old.sameAs(o) {
			out[name] = old
			continue
		}
		set, es := compileOptions(m, name, o)
		errs = append(errs, es...)
		if set.cfg == nil && old != nil && old.cfg != nil {
			set = old
			errs = append(errs, &dynamic.Error{Source: o.Source, Path: "tls.options." + name, Warning: true,
				Msg: "the previous version of these options keeps serving until the error is fixed"})
		}
		out[name] = set
	}
	if out[DefaultOptions] == nil {
		out[DefaultOptions] = m.builtin
	}
	return out, errs
}

// buildStatic loads the static certificates. One that fails keeps its previous version (same
// certFile and keyFile) serving.
func buildStatic(prev *snapshot, in []dynamic.Certificate) (*certStore, dynamic.Errors) {
	old := map[string]*certEntry{}
	for _, e := range prev.static.entries {
		old[e.key] = e
	}
	var entries []*certEntry
	var errs dynamic.Errors
	seen := map[string]bool{}
	for i, c := range in {
		key := c.CertFile + "\x00" + c.KeyFile
		if seen[key] {
			continue
		}
		seen[key] = true
		path := fmt.Sprintf("tls.certificates[%d]", i)
		e, err := loadCertificate(c)
		if err != nil {
			msg := err.Error()
			if o := old[key]; o != nil {
				entries = append(entries, o)
				msg += "; the previously loaded certificate keeps serving"
			}
			errs = append(errs, &dynamic.Error{Source: c.Source, Path: path, Msg: msg})
			continue
		}
		if time.Now().After(e.cert.Leaf.NotAfter) {
			errs = append(errs, &dynamic.Error{Source: c.Source, Path: path, Warning: true,
				Msg: fmt.Sprintf("certificate for %s expired on %s", strings.Join(e.names, ", "), e.cert.Leaf.NotAfter.Format(time.DateOnly))})
		}
		entries = append(entries, e)
	}
	return newCertStore(entries), errs
}

// buildDefault loads the default certificate a provider names, falling back to the previous
// one on error, or to the configured (or generated) one.
func buildDefault(prev *snapshot, c *dynamic.Certificate) (*certEntry, dynamic.Errors) {
	if c == nil {
		return prev.cfgDefault, nil
	}
	e, err := loadCertificate(*c)
	if err == nil {
		return e, nil
	}
	keep := prev.cfgDefault
	if prev.def.key == c.CertFile+"\x00"+c.KeyFile {
		keep = prev.def
	}
	return keep, dynamic.Errors{{Source: c.Source, Path: "tls.stores.default.defaultCertificate", Msg: err.Error()}}
}

// manageNames starts managing new names and stops the ones the table no longer needs.
func (m *Manager) manageNames(ctx context.Context, names []Name) dynamic.Errors {
	want, errs := m.resolveNames(names)
	var removed []certmagic.SubjectIssuer
	for host, mn := range m.managed {
		if want[host] != mn.r {
			mn.cancel()
			delete(m.managed, host)
			m.book.forget(host)
			removed = append(removed, certmagic.SubjectIssuer{Subject: host})
		}
	}
	m.wanted.Store(&want)
	if len(removed) > 0 {
		// Out of the cache means out of maintenance: no more renewals for these names.
		m.cache.RemoveManaged(removed)
		m.log.Info().Int("count", len(removed)).Msg("certificates no longer used by any router: renewal stopped")
	}
	added := map[string]*resolver{}
	for host, r := range want {
		if m.managed[host] == nil {
			added[host] = r
		}
	}
	m.manageNew(ctx, added)
	return errs
}

// resolveNames checks each name and maps it to its resolver. A name asked of two
// resolvers stays with the first that asked.
func (m *Manager) resolveNames(names []Name) (map[string]*resolver, dynamic.Errors) {
	want := map[string]*resolver{}
	var errs dynamic.Errors
	for _, n := range names {
		r := m.resolvers[n.Resolver]
		if r == nil {
			errs = append(errs, dynamic.Errorf(n.Source, "certificate resolver %q is not defined in the static configuration%s",
				n.Resolver, dynamic.DidYouMean(n.Resolver, keys(m.resolvers))))
			continue
		}
		for _, h := range append([]string{n.Host}, n.SANs...) {
			host := rule.CanonicalHost(h)
			if msg := checkName(host, r); msg != "" {
				errs = append(errs, dynamic.Errorf(n.Source, "%s", msg))
				continue
			}
			if other := want[host]; other != nil && other != r {
				e := dynamic.Errorf(n.Source, "%q is asked of resolvers %q and %q; %q keeps it", host, other.name, r.name, other.name)
				e.Warning = true
				errs = append(errs, e)
				continue
			}
			want[host] = r
		}
	}
	return want, errs
}

func checkName(host string, r *resolver) string {
	switch {
	case host == "":
		return "empty certificate name"
	case strings.HasPrefix(host, "*.") && r.conf.Challenge != ChallengeDNS:
		return fmt.Sprintf("wildcard certificate %q needs the DNS-01 challenge, but resolver %q does not use dnsChallenge", host, r.name)
	case !certmagic.SubjectQualifiesForCert(host):
		return fmt.Sprintf("%q cannot have a certificate", host)
	}
	return ""
}

// loadWait bounds how long Update waits for certificates to load from storage. Loading is
// a disk read, but it also fetches an OCSP staple when the certificate names a responder,
// and a responder that is down must not hold up a reload: what is not loaded by then goes
// on loading in the background.
const loadWait = 2 * time.Second

// manageNew starts managing hosts: each certificate is loaded from storage at once (in
// parallel, waiting at most loadWait), so a restart serves stored certificates even with
// the CA down; a host without one is handed to certmagic to obtain in the background, with
// retries and backoff.
func (m *Manager) manageNew(ctx context.Context, hosts map[string]*resolver) {
	var wg sync.WaitGroup
	for _, host := range keys(hosts) {
		r := hosts[host]
		nctx, cancel := context.WithCancel(m.ctx)
		m.managed[host] = &managedName{r: r, cancel: cancel}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.manage(nctx, host, r)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(loadWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		m.log.Warn().Dur("waited", loadWait).Msg("some stored certificates are still loading; they will be served once loaded")
	case <-ctx.Done():
	}
}

func (m *Manager) manage(ctx context.Context, host string, r *resolver) {
	cert, err := r.cfg.CacheManagedCertificate(ctx, host)
	switch {
	case err == nil && !cert.NeedsRenewal(r.cfg):
		// Served now; the cache's maintenance renews it in its window.
	case err == nil:
		go m.renew(ctx, host, r, cert)
	case ctx.Err() != nil:
	default:
		if !errors.Is(err, fs.ErrNotExist) {
			// certmagic will not replace files it cannot read: say where they are.
			m.book.failed(host, err)
			m.log.Error().Err(err).Str("name", host).Str("resolver", r.name).Str("storage", r.storage).
				Msg("stored certificate is unusable; fix or delete its files in the storage directory to obtain a new one")
		}
		if err := r.cfg.ManageAsync(ctx, []string{host}); err != nil {
			m.book.failed(host, err)
		}
	}
}

// renew renews a certificate that was due when it was loaded, serving the old one until the
// new one is there. RenewCertAsync retries with backoff until it succeeds or ctx ends.
func (m *Manager) renew(ctx context.Context, host string, r *resolver, old certmagic.Certificate) {
	if err := r.cfg.RenewCertAsync(ctx, host, false); err != nil {
		if ctx.Err() == nil {
			m.log.Error().Err(err).Str("name", host).Msg("renewing certificate")
		}
		return
	}
	c, err := r.cfg.CacheManagedCertificate(ctx, host)
	if err != nil {
		m.log.Error().Err(err).Str("name", host).Msg("loading renewed certificate")
		return
	}
	if c.Hash() != old.Hash() {
		m.cache.Remove([]string{old.Hash()})
	}
}

// configForCert is the cache's GetConfigForCert: the resolver of a certificate's name in the
// current table. A certificate no router needs any more gets no config, so its maintenance
// stops (Update also removes such certificates from the cache).
func (m *Manager) configForCert(cert certmagic.Certificate) (*certmagic.Config, error) {
	if r := m.resolverFor(cert.Names); r != nil {
		return r.cfg, nil
	}
	return nil, fmt.Errorf("certificate for %v is no longer used by any router; not renewing it", cert.Names)
}

func (m *Manager) resolverFor(names []string) *resolver {
	if w := m.wanted.Load(); w != nil {
		for _, n := range names {
			if r := (*w)[n]; r != nil {
				return r
			}
		}
	}
	if od := m.onDemand; od != nil {
		if s := m.state.Load(); s != nil && slices.ContainsFunc(names, func(n string) bool { return od.allowed(s, n) }) {
			return od.r
		}
	}
	return nil
}

// SameOptions reports whether a request for host may be served on a connection whose
// handshake was for sni: both must select the same TLS options. Otherwise a client could
// complete a handshake for a name without mutual TLS and then ask, by Host header, for one
// that requires it; the router answers such a request 421 Misdirected Request.
// Both names must be canonical (rule.CanonicalHost).
func (m *Manager) SameOptions(sni, host string) bool {
	if sni == host || sni == "" {
		// No SNI (an IP literal): the handshake used the default options, so the request
		// may only reach hosts that use them too.
		if sni == "" {
			return m.optionsName(host) == ""
		}
		return true
	}
	return m.optionsName(sni) == m.optionsName(host)
}

func (m *Manager) optionsName(host string) string {
	s := m.state.Load()
	if s == nil || s.optionsFor == nil {
		return ""
	}
	if n := s.optionsFor(host); n != DefaultOptions {
		return n
	}
	return ""
}
