// Package tls owns everything about certificates and TLS handshakes: ACME certificates
// through certmagic (HTTP-01, TLS-ALPN-01 and DNS-01), static certificates from providers,
// the default certificate, named TLS options and on-demand issuance.
//
// It is the only package that imports certmagic and zap (certmagic's logs are bridged into
// zerolog). There is one certmagic cache per process and one certmagic config per
// certificate resolver, made once in New and never per routing-table generation: the cache
// and its maintenance goroutine outlive every reload, so a reload never re-reads storage or
// re-issues a certificate.
//
// The package imports neither the router nor the providers. The router tells it what the
// current table needs through Update (a State: names to certify, static certificates,
// options, and two functions of the canonical host); entrypoints use TLSConfig and
// HTTPChallenge. Hosts are canonicalized with router/rule.CanonicalHost, the function the
// router uses, so a handshake and the request that follows it can never be attributed to
// different hosts.
//
// Importers alias crypto/tls, since this package is also named tls.
package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/rule"
)

// DefaultStorage is where certificates and ACME accounts are kept when a resolver names no
// directory (the container image sets /data).
const DefaultStorage = "./data/certs"

// ResolverConfig is one certificate resolver of the static configuration
// (certificatesResolvers.<name>.acme).
type ResolverConfig struct {
	// Name is the resolver's name, as routers write it in tls.certResolver. Required.
	Name string
	// CA is the ACME directory: "" or "production" for Let's Encrypt, "staging" for its
	// staging environment, or a URL.
	CA string
	// Email is the ACME account contact. Optional for Let's Encrypt; wharf never prompts.
	Email string
	// KeyType of certificate keys: EC256 (default), EC384, RSA2048, RSA4096, RSA8192.
	KeyType string
	// Storage is the directory for certificates, keys and the account. Default DefaultStorage.
	Storage string
	// TrustedRoots are PEM files of roots to trust, in addition to the system's, when talking
	// to the CA (a private CA, or Pebble in tests).
	TrustedRoots []string
	// Challenge is "http" (HTTP-01 only), "tls" (TLS-ALPN-01 only), "dns" (DNS-01 through
	// DNSProvider), or "" for HTTP-01 and TLS-ALPN-01 both.
	Challenge string
	// DNSProvider names the DNS provider for DNS-01: see DNSProviders.
	DNSProvider string
	// DNSDelay waits this long after creating the TXT record before checking propagation.
	DNSDelay time.Duration
	// DNSResolvers are "host:port" DNS servers for the propagation check. Default: system's.
	DNSResolvers []string
	// DNSDisablePropagationCheck skips the propagation check.
	DNSDisablePropagationCheck bool
	// Profile is the ACME certificate profile to request. Default: the CA's default.
	Profile string
	// PreferredChain picks an alternate chain by the common name of its root. Default "".
	PreferredChain string
	// EABKeyID and EABHMACKey are an external account binding (both or neither).
	EABKeyID, EABHMACKey string
	// HTTPPort and TLSPort are the ports wharf's entrypoints serve HTTP-01 and TLS-ALPN-01
	// on, when the CA's port 80 and 443 are forwarded elsewhere. Default 80 and 443.
	HTTPPort, TLSPort int
	// DisableARI ignores ACME Renewal Information and renews by RenewalWindowRatio alone.
	DisableARI bool
	// RenewalWindowRatio is the part of a certificate's lifetime, at its end, in which it is
	// renewed. Default 1/3.
	RenewalWindowRatio float64
	// RenewCheckInterval is how often certificates are checked for renewal. The cache is
	// shared, so the shortest interval of all resolvers applies. Default 10 minutes.
	RenewCheckInterval time.Duration
}

// OnDemand obtains certificates during the first handshake for names no router lists
// exactly (wildcard Host rules, for instance).
type OnDemand struct {
	// Allow lists names or one-label wildcards (*.example.com) that may get a certificate
	// even when no router's Host rule matches them.
	Allow []string
	// Burst certificates at most are started in any Interval (all names together).
	// Defaults: 10 per minute.
	Interval time.Duration
	Burst    int
	// Resolver issues the certificates. Default: the only resolver, when there is one.
	Resolver string
	// Wait is how long a handshake waits for an issuance before it gets the default
	// certificate; the issuance goes on, and later handshakes get the new certificate.
	// Default DefaultOnDemandWait.
	Wait time.Duration
}

// Config configures the Manager. It is read once, in New.
type Config struct {
	Resolvers []ResolverConfig
	// OnDemand, when set, turns on on-demand issuance. Default nil (off).
	OnDemand *OnDemand
	// DefaultCertFile and DefaultKeyFile are the certificate for handshakes no other
	// certificate matches. Default: a self-signed certificate generated at start.
	DefaultCertFile, DefaultKeyFile string
	Log                             zerolog.Logger
	// Metrics receives the certificate expiry gauge. May be nil.
	Metrics prometheus.Registerer

	// dnsProviders replaces the DNS provider table (tests).
	dnsProviders map[string]DNSProviderFunc
}

// Manager serves certificates and TLS options to every TLS entrypoint. It is safe for
// concurrent use; its zero value is not usable: call New.
type Manager struct {
	log       zerolog.Logger
	cache     *certmagic.Cache
	resolvers map[string]*resolver // fixed after New
	order     []*resolver          // resolvers sorted by name, for deterministic iteration
	onDemand  *onDemand            // nil when off
	baseTLS   *tls.Config
	alpnTLS   *tls.Config // answers TLS-ALPN-01 validation handshakes
	builtin   *optionSet  // "default" when no provider defines it; kept for its ticket keys

	state atomic.Pointer[snapshot] // never nil after New
	// wanted maps every name the current table needs to its resolver. The cache's
	// maintenance goroutine reads it (GetConfigForCert) to decide what to renew.
	wanted atomic.Pointer[map[string]*resolver]

	mu      sync.Mutex // serializes Update and guards managed
	managed map[string]*managedName

	book *statusBook

	ctx    context.Context // cancelled by Close: stops every issuance and retry
	cancel context.CancelFunc
	closed sync.Once
}

// New checks every resolver's storage (write, read back and delete a probe file, so an
// unwritable directory stops startup with its path instead of failing hours later during
// an issuance), generates the default certificate when none is configured and starts the
// certificate cache. No certificate is requested before the first Update.
func New(cfg Config) (*Manager, error) {
	m := &Manager{
		log:       cfg.Log,
		resolvers: map[string]*resolver{},
		managed:   map[string]*managedName{},
		book:      newStatusBook(),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.setup(cfg); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Manager) setup(cfg Config) error {
	zl := newZapLogger(cfg.Log)
	providers := cfg.dnsProviders
	if providers == nil {
		providers = dnsProviders
	}
	for _, rc := range cfg.Resolvers {
		if _, dup := m.resolvers[rc.Name]; dup {
			return fmt.Errorf("certificate resolver %q is defined twice", rc.Name)
		}
		r, err := newResolver(rc, zl, providers)
		if err != nil {
			return err
		}
		m.resolvers[rc.Name] = r
		m.order = append(m.order, r)
	}
	slices.SortFunc(m.order, func(a, b *resolver) int { return strings.Compare(a.name, b.name) })
	def, err := loadDefaultCert(cfg.DefaultCertFile, cfg.DefaultKeyFile)
	if err != nil {
		return err
	}
	if cfg.OnDemand != nil {
		if m.onDemand, err = newOnDemand(*cfg.OnDemand, m); err != nil {
			return err
		}
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: renewCheckInterval(cfg.Resolvers),
		Logger:             zl,
	})
	for _, r := range m.order {
		r.bind(m, zl)
	}
	empty := map[string]*resolver{}
	m.wanted.Store(&empty)
	m.builtin = compileDefaultOptions(m)
	m.state.Store(newSnapshot(m, def))
	m.baseTLS = m.newBaseTLS()
	m.alpnTLS = &tls.Config{
		MinVersion:     tls.VersionTLS12, // RFC 8737, section 4
		NextProtos:     []string{acmeTLS1},
		GetCertificate: m.challengeCertificate,
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(newExpiryCollector(m)); err != nil {
			return fmt.Errorf("registering certificate metrics: %w", err)
		}
	}
	return nil
}

// renewCheckInterval is the shortest interval any resolver asks for (0: certmagic's default).
func renewCheckInterval(rcs []ResolverConfig) time.Duration {
	var d time.Duration
	for _, rc := range rcs {
		if rc.RenewCheckInterval > 0 && (d == 0 || rc.RenewCheckInterval < d) {
			d = rc.RenewCheckInterval
		}
	}
	return d
}

// Close stops certificate maintenance and every issuance in progress. Certificates already
// served stay valid; the Manager must not be used afterwards.
func (m *Manager) Close() {
	m.closed.Do(func() {
		m.cancel()
		if m.onDemand != nil {
			m.onDemand.limiter.Stop()
		}
		if m.cache != nil {
			m.cache.Stop()
		}
	})
}

// TLSConfig is the configuration for every TLS entrypoint. GetConfigForClient picks the TLS
// options by the canonical SNI, and each options' GetCertificate serves, in order: a static
// certificate or a managed one (the most specific name wins, static before managed on a
// tie), an on-demand certificate when the policy allows the name, or the default
// certificate, at once. The result is shared: callers may Clone it but must not modify it.
func (m *Manager) TLSConfig() *tls.Config { return m.baseTLS }

func (m *Manager) newBaseTLS() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         slices.Clone(defaultALPN),
		GetConfigForClient: m.configForClient,
		GetCertificate:     m.builtin.cfg.GetCertificate,
	}
}

// HTTPChallenge answers ACME HTTP-01 validation requests for any resolver's pending
// challenge and reports whether it did. Entrypoints call it before routing (Config.Intercept),
// so that no router, not even a catch-all, can shadow a challenge; any other request under
// /.well-known/acme-challenge/ is left to the routers.
func (m *Manager) HTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		return false
	}
	// certmagic looks the challenge up by the request's host; give it the canonical one.
	r2 := r.WithContext(r.Context())
	r2.Host = rule.CanonicalHost(r.Host)
	for _, res := range m.order {
		if res.issuer.HandleHTTPChallenge(w, r2) {
			return true
		}
	}
	return false
}

// challengeCertificate answers a TLS-ALPN-01 validation handshake. Challenges in progress
// are kept in process memory by certmagic (and in storage), so any resolver's config finds
// any resolver's challenge; they are tried in turn only because a config that has the
// challenge disabled answers nothing.
func (m *Manager) challengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var errs []error
	for _, res := range m.order {
		c, err := res.cfg.GetCertificate(hello)
		if err == nil && c != nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no pending tls-alpn-01 challenge for %q: %w", hello.ServerName, errors.Join(errs...))
}
