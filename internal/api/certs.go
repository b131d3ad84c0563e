package api

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Certificate is one certificate wharf serves or is obtaining. It never carries the key or
// the PEM.
type Certificate struct {
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer,omitempty"`
	Resolver string    `json:"resolver,omitempty"` // the ACME resolver; "" for static certificates
	NotAfter time.Time `json:"notAfter,omitzero"`  // zero while none has been obtained
	// DaysLeft is whole days until NotAfter (negative once expired); the API fills it in.
	DaysLeft  *int   `json:"daysLeft,omitempty"`
	Managed   bool   `json:"managed"`             // obtained and renewed by wharf (ACME)
	Default   bool   `json:"default,omitempty"`   // the certificate for handshakes nothing else matches
	LastError string `json:"lastError,omitempty"` // the last failure to obtain or renew
	Source    string `json:"source,omitempty"`    // where a static certificate was configured
}

func (s *Server) certificates(now time.Time) []Certificate {
	cs, ok := s.st.(Certificates)
	if !ok {
		return []Certificate{}
	}
	list := cs.Certificates()
	out := make([]Certificate, 0, len(list))
	for _, c := range list {
		if !c.NotAfter.IsZero() {
			d := int(math.Floor(c.NotAfter.Sub(now).Hours() / 24))
			c.DaysLeft = &d
		}
		out = append(out, c)
	}
	// Soonest to expire first: that is the one to look at.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].NotAfter, out[j].NotAfter
		if a.IsZero() != b.IsZero() {
			return a.IsZero() // not yet obtained: first, it needs attention
		}
		return a.Before(b)
	})
	return out
}

// StaticCertificates describes the certificates of a dynamic configuration's tls section,
// by parsing their PEM: what the API lists when no TLS manager reports its own. A certificate
// that cannot be read is listed with the reason, never silently left out.
func StaticCertificates(certs []dynamic.Certificate) []Certificate {
	var out []Certificate
	for _, c := range certs {
		ci := Certificate{Source: c.Source.String()}
		leaf, err := readLeaf(c.CertFile)
		if err != nil {
			ci.Names = []string{}
			ci.LastError = err.Error()
			out = append(out, ci)
			continue
		}
		ci.Names = leafNames(leaf)
		ci.Issuer = leaf.Issuer.CommonName
		ci.NotAfter = leaf.NotAfter
		out = append(out, ci)
	}
	return out
}

// readLeaf parses the first certificate of a PEM file, or of inline PEM.
func readLeaf(fileOrPEM string) (*x509.Certificate, error) {
	data := []byte(fileOrPEM)
	if !strings.Contains(fileOrPEM, "-----BEGIN") {
		var err error
		if data, err = os.ReadFile(fileOrPEM); err != nil {
			return nil, err
		}
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no CERTIFICATE block in the PEM")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func leafNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	if names == nil {
		names = []string{}
	}
	return names
}
