package tls

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"
)

// Challenge types of ResolverConfig.Challenge.
const (
	ChallengeHTTP = "http"
	ChallengeTLS  = "tls"
	ChallengeDNS  = "dns"
)

const acmeTLS1 = "acme-tls/1"

// resolver is one certificate resolver: its storage, its certmagic config and its ACME
// issuer. All of it is made once, in New.
type resolver struct {
	name    string
	conf    ResolverConfig
	storage string // absolute directory
	keys    certmagic.KeyGenerator
	tmpl    certmagic.ACMEIssuer
	cfg     *certmagic.Config
	issuer  *certmagic.ACMEIssuer
}

// newResolver checks a resolver's settings and its storage; bind then makes its certmagic
// config. The two steps are apart so that a bad setting stops startup before the shared
// cache (and its maintenance goroutine) exists.
func newResolver(rc ResolverConfig, zl *zap.Logger, providers map[string]DNSProviderFunc) (*resolver, error) {
	if rc.Name == "" {
		return nil, fmt.Errorf("a certificate resolver needs a name")
	}
	wrap := func(err error) error { return fmt.Errorf("certificate resolver %q: %w", rc.Name, err) }
	dir := rc.Storage
	if dir == "" {
		dir = DefaultStorage
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, wrap(err)
	}
	if err := probeStorage(dir); err != nil {
		return nil, wrap(err)
	}
	r := &resolver{name: rc.Name, conf: rc, storage: dir}
	if r.keys, err = keyGenerator(rc.KeyType); err != nil {
		return nil, wrap(err)
	}
	if r.tmpl, err = issuerTemplate(rc, zl, providers); err != nil {
		return nil, wrap(err)
	}
	return r, nil
}

func (r *resolver) bind(m *Manager, zl *zap.Logger) {
	r.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: r.storage},
		KeySource:          r.keys,
		RenewalWindowRatio: r.conf.RenewalWindowRatio,
		DisableARI:         r.conf.DisableARI,
		OnEvent:            m.book.onEvent(r.name, m),
		ShouldEmitFunc:     shouldEmit,
		Logger:             zl.With(zap.String("resolver", r.name)),
	})
	r.issuer = certmagic.NewACMEIssuer(r.cfg, r.tmpl)
	r.cfg.Issuers = []certmagic.Issuer{r.issuer}
}

// shouldEmit skips the event certmagic would build for every handshake: nothing here
// listens to it, and building it is not free.
func shouldEmit(event string) bool { return event != "tls_get_certificate" }

// issuerTemplate turns the resolver's settings into certmagic's ACMEIssuer template.
func issuerTemplate(rc ResolverConfig, zl *zap.Logger, providers map[string]DNSProviderFunc) (certmagic.ACMEIssuer, error) {
	ca, err := caURL(rc.CA)
	if err != nil {
		return certmagic.ACMEIssuer{}, err
	}
	t := certmagic.ACMEIssuer{
		CA:     ca,
		Email:  rc.Email,
		Agreed: true, // configuring a resolver is agreeing to its CA's terms; never prompt
		// Challenge data stays in memory and in storage: a challenge request for a token
		// this instance did not start is left to the routers instead of being answered.
		DisableDistributedSolvers: false,
		AltHTTPPort:               rc.HTTPPort,
		AltTLSALPNPort:            rc.TLSPort,
		Profile:                   rc.Profile,
		Logger:                    zl.With(zap.String("resolver", rc.Name)),
	}
	if rc.PreferredChain != "" {
		t.PreferredChains = certmagic.ChainPreference{RootCommonName: []string{rc.PreferredChain}}
	}
	if (rc.EABKeyID == "") != (rc.EABHMACKey == "") {
		return t, fmt.Errorf("external account binding needs both a key id and an HMAC key")
	}
	if rc.EABKeyID != "" {
		t.ExternalAccount = &acme.EAB{KeyID: rc.EABKeyID, MACKey: rc.EABHMACKey}
	}
	if t.TrustedRoots, err = rootPool(rc.TrustedRoots); err != nil {
		return t, err
	}
	return t, setChallenge(&t, rc, zl, providers)
}

// setChallenge enables exactly the challenge types the resolver asks for.
func setChallenge(t *certmagic.ACMEIssuer, rc ResolverConfig, zl *zap.Logger, providers map[string]DNSProviderFunc) error {
	switch rc.Challenge {
	case "":
	case ChallengeHTTP:
		t.DisableTLSALPNChallenge = true
	case ChallengeTLS:
		t.DisableHTTPChallenge = true
	case ChallengeDNS:
		t.DisableHTTPChallenge, t.DisableTLSALPNChallenge = true, true
		p, err := newDNSProvider(rc.DNSProvider, providers)
		if err != nil {
			return err
		}
		s := &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider:      p,
			PropagationDelay: rc.DNSDelay,
			Resolvers:        rc.DNSResolvers,
			Logger:           zl.With(zap.String("resolver", rc.Name)),
		}}
		if rc.DNSDisablePropagationCheck {
			s.PropagationTimeout = -1
		}
		t.DNS01Solver = s
	default:
		return fmt.Errorf("unknown challenge %q: use http, tls or dns", rc.Challenge)
	}
	if rc.Challenge != ChallengeDNS && rc.DNSProvider != "" {
		return fmt.Errorf("a DNS provider is set but the challenge is %q, not dns", rc.Challenge)
	}
	return nil
}

// caURL resolves the CA's short names; anything else must be an http(s) URL.
func caURL(ca string) (string, error) {
	switch strings.ToLower(ca) {
	case "", "production", "letsencrypt":
		return certmagic.LetsEncryptProductionCA, nil
	case "staging", "letsencrypt-staging":
		return certmagic.LetsEncryptStagingCA, nil
	}
	u, err := url.Parse(ca)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("CA %q is neither production, staging nor an https URL of an ACME directory", ca)
	}
	return ca, nil
}

// keyGenerator maps Traefik's key type names to certmagic's.
func keyGenerator(kt string) (certmagic.KeyGenerator, error) {
	types := map[string]certmagic.KeyType{
		"": certmagic.P256, "EC256": certmagic.P256, "P256": certmagic.P256,
		"EC384": certmagic.P384, "P384": certmagic.P384,
		"RSA2048": certmagic.RSA2048, "RSA4096": certmagic.RSA4096, "RSA8192": certmagic.RSA8192,
	}
	t, ok := types[strings.ToUpper(kt)]
	if !ok {
		return nil, fmt.Errorf("unknown key type %q: use EC256, EC384, RSA2048, RSA4096 or RSA8192", kt)
	}
	return certmagic.StandardKeyGenerator{KeyType: t}, nil
}

// rootPool is the system's roots plus the given PEM files, or nil (certmagic then uses the
// system's) when there are none.
func rootPool(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted roots: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("trusted roots: %s: no PEM certificate found", f)
		}
	}
	return pool, nil
}
