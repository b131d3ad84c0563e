package tls

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"

	"github.com/wharfproxy/wharf/router/rule"
)

// snapshot is what handshakes read: built whole by Update and swapped in with one atomic
// store, so a handshake sees one consistent generation and never takes a lock.
type snapshot struct {
	options         map[string]*optionSet // by qualified name; DefaultOptions is always there
	optionsFor      func(host string) string
	onDemandAllowed func(host string) bool
	static          *certStore
	def             *certEntry // the default certificate in effect
	cfgDefault      *certEntry // the one from Config (or generated): used when State names none
}

func newSnapshot(m *Manager, def *certEntry) *snapshot {
	return &snapshot{
		options:    map[string]*optionSet{DefaultOptions: m.builtin},
		static:     newCertStore(nil),
		def:        def,
		cfgDefault: def,
	}
}

// isChallenge reports a TLS-ALPN-01 validation handshake: RFC 8737 has the CA offer
// acme-tls/1 alone, with the name being validated as SNI.
func isChallenge(hello *tls.ClientHelloInfo) bool {
	return hello.ServerName != "" && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeTLS1
}

// configForClient picks the TLS options for the canonical SNI. Options that are named but
// not defined, or broken, fail the handshake rather than fall back to the default: the
// options may have asked for client certificates, and serving the route without them would
// be an authentication bypass.
func (m *Manager) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if len(m.order) > 0 && isChallenge(hello) {
		return m.alpnTLS, nil
	}
	s := m.state.Load()
	host := rule.CanonicalHost(hello.ServerName)
	name := DefaultOptions
	if s.optionsFor != nil {
		if n := s.optionsFor(host); n != "" {
			name = n
		}
	}
	set, ok := s.options[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("TLS options %q, selected for %q, are not defined", name, host)
	case set.cfg == nil:
		return nil, set.err
	}
	return set.cfg, nil
}

// certificate serves the certificate for a handshake. It never waits on a CA except for a
// name the on-demand policy allows, and then at most OnDemand.Wait.
func (m *Manager) certificate(hello *tls.ClientHelloInfo, strict bool) (*tls.Certificate, error) {
	s := m.state.Load()
	host := rule.CanonicalHost(hello.ServerName)
	if host != "" {
		if c := m.lookup(s, hello, host); c != nil {
			return c, nil
		}
		if m.onDemand != nil {
			if c := m.onDemand.certificate(hello, host, s); c != nil {
				return c, nil
			}
		}
	}
	if strict {
		return nil, fmt.Errorf("no certificate for %q and the TLS options set sniStrict", host)
	}
	return s.def.cert, nil
}

// lookup finds a static or managed certificate for host: the most specific name wins
// (exact over wildcard), and on a tie the static certificate, which a user put there on
// purpose.
func (m *Manager) lookup(s *snapshot, hello *tls.ClientHelloInfo, host string) *tls.Certificate {
	staticExact, staticWild := s.static.lookup(hello, host)
	if staticExact != nil {
		return staticExact
	}
	managedExact, managedWild := m.managedLookup(hello, host)
	switch {
	case managedExact != nil:
		return managedExact
	case staticWild != nil:
		return staticWild
	}
	return managedWild
}

// managedLookup searches certmagic's cache (ACME certificates) for host.
func (m *Manager) managedLookup(hello *tls.ClientHelloInfo, host string) (exact, wild *tls.Certificate) {
	all := m.cache.AllMatchingCertificates(host)
	if len(all) == 0 {
		return nil, nil
	}
	wildName := ""
	if i := strings.IndexByte(host, '.'); i > 0 {
		wildName = "*" + host[i:]
	}
	var ex, wi []certmagic.Certificate
	for _, c := range all {
		switch {
		case slices.Contains(c.Names, host):
			ex = append(ex, c)
		case wildName != "" && slices.Contains(c.Names, wildName):
			wi = append(wi, c) // only one-label wildcards (RFC 6125), not "*.*.com"
		}
	}
	return selectManaged(hello, ex), selectManaged(hello, wi)
}

func selectManaged(hello *tls.ClientHelloInfo, choices []certmagic.Certificate) *tls.Certificate {
	if len(choices) == 0 {
		return nil
	}
	c, err := certmagic.DefaultCertificateSelector(hello, choices)
	if err != nil {
		return nil
	}
	return &c.Certificate
}
