package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
)

// DefaultCertCommonName is the subject of the generated default certificate, so that a
// browser showing it tells the user which proxy answered and that no certificate matched.
const DefaultCertCommonName = "WHARF DEFAULT CERT"

// certEntry is one static certificate from a provider (tls.certificates) or the default.
type certEntry struct {
	key   string // certFile + NUL + keyFile: the identity that survives a reload
	cert  *tls.Certificate
	names []string // canonical DNS names from the leaf, wildcards as "*.example.com"
	src   dynamic.Source
}

// certStore indexes static certificates by name. It is immutable once built.
type certStore struct {
	entries []*certEntry
	exact   map[string][]*tls.Certificate
	wild    map[string][]*tls.Certificate // by the suffix after "*."
}

func newCertStore(entries []*certEntry) *certStore {
	s := &certStore{entries: entries, exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}}
	for _, e := range entries {
		for _, n := range e.names {
			if suffix, ok := strings.CutPrefix(n, "*."); ok {
				s.wild[suffix] = append(s.wild[suffix], e.cert)
			} else {
				s.exact[n] = append(s.exact[n], e.cert)
			}
		}
	}
	return s
}

// lookup returns the best static certificate for the canonical host with an exact name and
// the best with a wildcard name (one label, RFC 6125), either may be nil.
func (s *certStore) lookup(hello *tls.ClientHelloInfo, host string) (exact, wild *tls.Certificate) {
	exact = pick(hello, s.exact[host])
	if i := strings.IndexByte(host, '.'); i > 0 {
		wild = pick(hello, s.wild[host[i+1:]])
	}
	return exact, wild
}

// pick prefers a certificate the client supports (key type, signature scheme) and that is
// currently valid, then one the client supports, then the first.
func pick(hello *tls.ClientHelloInfo, certs []*tls.Certificate) *tls.Certificate {
	switch len(certs) {
	case 0:
		return nil
	case 1:
		return certs[0]
	}
	now := time.Now()
	var supported *tls.Certificate
	for _, c := range certs {
		if hello.SupportsCertificate(c) != nil {
			continue
		}
		if c.Leaf != nil && now.After(c.Leaf.NotBefore) && now.Before(c.Leaf.NotAfter) {
			return c
		}
		if supported == nil {
			supported = c
		}
	}
	if supported != nil {
		return supported
	}
	return certs[0]
}

// loadCertificate reads a certificate and its key, as files or inline PEM.
func loadCertificate(c dynamic.Certificate) (*certEntry, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, fmt.Errorf("a certificate needs both certFile and keyFile")
	}
	certPEM, err := readPEM(c.CertFile)
	if err != nil {
		return nil, fmt.Errorf("reading certFile: %w", err)
	}
	keyPEM, err := readPEM(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading keyFile: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s do not make a pair: %w", short(c.CertFile), short(c.KeyFile), err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &certEntry{key: c.CertFile + "\x00" + c.KeyFile, cert: &pair, names: leafNames(pair.Leaf), src: c.Source}, nil
}

// leafNames returns the canonical DNS names of a certificate; the common name counts only
// when there are no DNS SANs, as browsers have required since 2017.
func leafNames(leaf *x509.Certificate) []string {
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" && strings.Contains(leaf.Subject.CommonName, ".") {
		names = []string{leaf.Subject.CommonName}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, rule.CanonicalHost(n))
	}
	return out
}

// short shortens inline PEM in error messages to its first line.
func short(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") {
		return "(inline PEM)"
	}
	return s
}

// loadDefaultCert loads the configured default certificate, or generates one.
func loadDefaultCert(certFile, keyFile string) (*certEntry, error) {
	if certFile == "" && keyFile == "" {
		return selfSigned()
	}
	e, err := loadCertificate(dynamic.Certificate{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	return e, nil
}

// selfSigned generates the default certificate served to handshakes no other certificate
// matches (scanners, clients that send no SNI, names not configured). It is deliberately
// untrusted and names no host: a client that gets it knows it reached wharf but not a site.
func selfSigned() (*certEntry, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: DefaultCertCommonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return &certEntry{key: "generated", cert: c}, nil
}
