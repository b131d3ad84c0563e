package tls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// DefaultOptions is the name of the TLS options used when a router names none.
const DefaultOptions = "default"

// defaultALPN is what every TLS entrypoint offers unless options say otherwise: HTTP/2 first,
// and acme-tls/1 so that Traefik configurations that list it behave the same.
var defaultALPN = []string{"h2", "http/1.1", acmeTLS1}

// optionSet is one named set of TLS options, compiled into the *tls.Config that
// GetConfigForClient returns for hosts that select it.
type optionSet struct {
	name string
	src  dynamic.TLSOptions // as configured, Source cleared, to detect an unchanged set
	cfg  *tls.Config        // nil when broken
	err  error              // why handshakes that select a broken set fail
}

// compileDefaultOptions is the built-in "default": TLS 1.2 and later, Go's cipher suites and
// curves, h2 and http/1.1.
func compileDefaultOptions(m *Manager) *optionSet {
	o, _ := compileOptions(m, DefaultOptions, &dynamic.TLSOptions{})
	return o
}

// compileOptions builds the tls.Config of one options set. Any error leaves the set broken
// (cfg nil): a set that asked for client certificates must never be served without them.
func compileOptions(m *Manager, name string, o *dynamic.TLSOptions) (*optionSet, dynamic.Errors) {
	set := &optionSet{name: name, src: *o}
	set.src.Source = dynamic.Source{}
	c := &optionsCompiler{name: name, src: o.Source}
	strict := o.SNIStrict
	cfg := &tls.Config{
		MinVersion:       c.version("minVersion", o.MinVersion, tls.VersionTLS12),
		MaxVersion:       c.version("maxVersion", o.MaxVersion, 0),
		CipherSuites:     c.cipherSuites(o.CipherSuites),
		CurvePreferences: c.curves(o.CurvePreferences),
		NextProtos:       slices.Clone(defaultALPN),
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.certificate(hello, strict)
		},
	}
	if len(o.ALPNProtocols) > 0 {
		cfg.NextProtos = slices.Clone(o.ALPNProtocols)
	}
	if cfg.MaxVersion != 0 && cfg.MaxVersion < cfg.MinVersion {
		c.fail("maxVersion", o.MaxVersion, "is lower than minVersion "+o.MinVersion)
	}
	if o.ClientAuth != nil {
		cfg.ClientAuth, cfg.ClientCAs = c.clientAuth(o.ClientAuth)
	}
	if len(c.errs) > 0 {
		set.err = fmt.Errorf("TLS options %q are invalid: %w", name, c.errs)
		return set, c.errs
	}
	set.cfg = cfg
	return set, c.warns
}

// sameAs reports whether set was compiled from o, so a reload can keep the compiled config
// (and with it the session ticket keys: clients keep resuming across reloads).
func (set *optionSet) sameAs(o *dynamic.TLSOptions) bool {
	cp := *o
	cp.Source = dynamic.Source{}
	return set.cfg != nil && reflect.DeepEqual(set.src, cp)
}

type optionsCompiler struct {
	name  string
	src   dynamic.Source
	errs  dynamic.Errors
	warns dynamic.Errors
}

func (c *optionsCompiler) problem(key, value, msg string) *dynamic.Error {
	return &dynamic.Error{Source: c.src, Path: "tls.options." + c.name + "." + key, Value: value, HasVal: value != "", Msg: msg}
}

func (c *optionsCompiler) fail(key, value, msg string) {
	c.errs = append(c.errs, c.problem(key, value, msg))
}

func (c *optionsCompiler) warn(key, value, msg string) {
	e := c.problem(key, value, msg)
	e.Warning = true
	c.warns = append(c.warns, e)
}

var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10, "VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12, "VersionTLS13": tls.VersionTLS13,
}

func (c *optionsCompiler) version(key, s string, def uint16) uint16 {
	if s == "" {
		return def
	}
	for name, v := range tlsVersions {
		if strings.EqualFold(name, s) {
			if v < tls.VersionTLS12 {
				c.warn(key, s, "TLS 1.0 and 1.1 are deprecated (RFC 8996); allowed because they were asked for")
			}
			return v
		}
	}
	c.fail(key, s, "unknown TLS version: use VersionTLS12 or VersionTLS13 (also VersionTLS10, VersionTLS11)")
	return def
}

func (c *optionsCompiler) cipherSuites(names []string) []uint16 {
	if len(names) == 0 {
		return nil
	}
	known := map[string]uint16{}
	insecure := map[string]bool{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name], insecure[s.Name] = s.ID, true
	}
	var ids []uint16
	for _, n := range names {
		id, ok := known[strings.ToUpper(n)]
		switch {
		case !ok:
			c.fail("cipherSuites", n, "unknown cipher suite"+dynamic.DidYouMean(n, keys(known)))
		case insecure[strings.ToUpper(n)]:
			c.warn("cipherSuites", n, "insecure cipher suite; allowed because it was asked for")
			ids = append(ids, id)
		default:
			ids = append(ids, id)
		}
	}
	return ids
}

var curveNames = map[string]tls.CurveID{
	"CURVEP256": tls.CurveP256, "SECP256R1": tls.CurveP256, "P-256": tls.CurveP256, "P256": tls.CurveP256,
	"CURVEP384": tls.CurveP384, "SECP384R1": tls.CurveP384, "P-384": tls.CurveP384, "P384": tls.CurveP384,
	"CURVEP521": tls.CurveP521, "SECP521R1": tls.CurveP521, "P-521": tls.CurveP521, "P521": tls.CurveP521,
	"X25519":             tls.X25519,
	"X25519MLKEM768":     tls.X25519MLKEM768,
	"SECP256R1MLKEM768":  tls.SecP256r1MLKEM768,
	"SECP384R1MLKEM1024": tls.SecP384r1MLKEM1024,
}

func (c *optionsCompiler) curves(names []string) []tls.CurveID {
	var ids []tls.CurveID
	for _, n := range names {
		id, ok := curveNames[strings.ToUpper(n)]
		if !ok {
			c.fail("curvePreferences", n, "unknown curve: use X25519, CurveP256, CurveP384, CurveP521 or X25519MLKEM768")
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

var clientAuthTypes = map[string]tls.ClientAuthType{
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

// clientAuth follows Traefik: CA files alone mean RequireAndVerifyClientCert, and a type that
// verifies certificates needs CA files.
func (c *optionsCompiler) clientAuth(ca *dynamic.ClientAuth) (tls.ClientAuthType, *x509.CertPool) {
	mode := tls.NoClientCert
	var pool *x509.CertPool
	if len(ca.CAFiles) > 0 {
		pool = x509.NewCertPool()
		mode = tls.RequireAndVerifyClientCert
		for _, f := range ca.CAFiles {
			b, err := readPEM(f)
			if err != nil {
				c.fail("clientAuth.caFiles", f, err.Error())
			} else if !pool.AppendCertsFromPEM(b) {
				c.fail("clientAuth.caFiles", f, "no PEM certificate found")
			}
		}
	}
	if ca.ClientAuthType != "" {
		t, ok := clientAuthTypes[ca.ClientAuthType]
		switch {
		case !ok:
			c.fail("clientAuth.clientAuthType", ca.ClientAuthType, "unknown client auth type"+dynamic.DidYouMean(ca.ClientAuthType, keys(clientAuthTypes)))
		case pool == nil && (t == tls.VerifyClientCertIfGiven || t == tls.RequireAndVerifyClientCert):
			c.fail("clientAuth.clientAuthType", ca.ClientAuthType, "verifying client certificates needs clientAuth.caFiles")
		default:
			mode = t
		}
	}
	return mode, pool
}

// readPEM reads a PEM file, or returns s itself when it is inline PEM (as Traefik allows).
func readPEM(s string) ([]byte, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") {
		return []byte(s), nil
	}
	return os.ReadFile(s)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
