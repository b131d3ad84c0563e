package tls

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func TestGeneratedDefaultCertificate(t *testing.T) {
	m := newManager(t, Config{})
	addr := serveTLS(t, m, "127.0.0.1:0")
	for _, sni := range []string{"", "unknown.example"} {
		c := mustHandshake(t, addr, sni, nil)
		if !isDefault(c) {
			t.Errorf("SNI %q: got %q; want the generated default certificate", sni, c.Subject.CommonName)
		}
	}
	infos := m.Certificates()
	if len(infos) != 1 || !infos[0].Default || infos[0].NotAfter.IsZero() {
		t.Fatalf("Certificates() = %+v; want the default certificate alone", infos)
	}
}

func TestConfiguredDefaultCertificate(t *testing.T) {
	ca := newTestCA(t, "test CA")
	certFile, keyFile := ca.files(t, "fallback.example", "fallback.example")
	m := newManager(t, Config{DefaultCertFile: certFile, DefaultKeyFile: keyFile})
	addr := serveTLS(t, m, "127.0.0.1:0")
	if c := mustHandshake(t, addr, "whatever.example", nil); c.Subject.CommonName != "fallback.example" {
		t.Fatalf("got %q; want the configured default", c.Subject.CommonName)
	}
	if _, err := New(Config{DefaultCertFile: certFile, DefaultKeyFile: "/nonexistent.key"}); err == nil || !strings.Contains(err.Error(), "/nonexistent.key") {
		t.Fatalf("New with a missing default key: %v; want an error naming it", err)
	}
}

func TestStaticCertificatesBySNI(t *testing.T) {
	ca := newTestCA(t, "test CA")
	exactCert, exactKey := ca.files(t, "exact", "www.example.com", "example.com")
	wildCert, wildKey := ca.files(t, "wild", "*.example.com")
	ca2 := newTestCA(t, "inline CA")
	inlineCert, inlineKey := ca2.issue(t, "inline", "inline.example.org")
	m := newManager(t, Config{})
	update(t, m, State{Certificates: []dynamic.Certificate{
		{CertFile: wildCert, KeyFile: wildKey},
		{CertFile: exactCert, KeyFile: exactKey},
		{CertFile: string(inlineCert), KeyFile: string(inlineKey)},
	}})
	addr := serveTLS(t, m, "127.0.0.1:0")
	cases := []struct{ sni, want string }{
		{"www.example.com", "exact"},               // exact beats the wildcard
		{"WWW.Example.COM.", "exact"},              // canonicalized like routing
		{"example.com", "exact"},                   // second SAN
		{"api.example.com", "wild"},                // one label under the wildcard
		{"a.b.example.com", DefaultCertCommonName}, // a wildcard covers one label only
		{"inline.example.org", "inline"},           // inline PEM, as Traefik allows
		{"nothing.example.net", DefaultCertCommonName},
	}
	for _, c := range cases {
		if got := mustHandshake(t, addr, c.sni, nil).Subject.CommonName; got != c.want {
			t.Errorf("SNI %q: got %q; want %q", c.sni, got, c.want)
		}
	}
	// A client that trusts the CA verifies the served chain.
	if _, _, err := handshake(t, addr, "api.example.com", &tls.Config{RootCAs: ca.pool}); err != nil {
		t.Errorf("verified handshake: %v", err)
	}
}

func TestUnreadableCertificateKeepsThePreviousOne(t *testing.T) {
	ca := newTestCA(t, "test CA")
	certFile, keyFile := ca.files(t, "app", "app.example")
	src := dynamic.Source{Provider: "file", File: "certs.yml", Line: 3, Col: 7}
	m := newManager(t, Config{})
	state := State{Certificates: []dynamic.Certificate{{CertFile: certFile, KeyFile: keyFile, Source: src}}}
	update(t, m, state)
	addr := serveTLS(t, m, "127.0.0.1:0")

	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := m.Update(context.Background(), state)
	if err == nil || !strings.Contains(err.Error(), "certs.yml:3:7") || !strings.Contains(err.Error(), "keeps serving") {
		t.Fatalf("Update: %v; want an error naming certs.yml:3:7", err)
	}
	if got := mustHandshake(t, addr, "app.example", nil).Subject.CommonName; got != "app" {
		t.Fatalf("got %q; the previously loaded certificate should keep serving", got)
	}

	missing := State{Certificates: []dynamic.Certificate{{CertFile: filepath.Join(t.TempDir(), "nope.pem"), KeyFile: keyFile, Source: src}}}
	if err := m.Update(context.Background(), missing); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Fatalf("Update with a missing file: %v; want an error naming it", err)
	}
}

func TestSNIStrict(t *testing.T) {
	ca := newTestCA(t, "test CA")
	certFile, keyFile := ca.files(t, "known", "known.example")
	m := newManager(t, Config{})
	update(t, m, State{
		Certificates: []dynamic.Certificate{{CertFile: certFile, KeyFile: keyFile}},
		Options:      map[string]*dynamic.TLSOptions{DefaultOptions: {SNIStrict: true}},
	})
	addr := serveTLS(t, m, "127.0.0.1:0")
	if _, _, err := handshake(t, addr, "unknown.example", nil); err == nil {
		t.Fatal("sniStrict: a name without a certificate got the default one")
	}
	if got := mustHandshake(t, addr, "known.example", nil).Subject.CommonName; got != "known" {
		t.Fatalf("sniStrict: got %q for a known name", got)
	}
}

func TestProviderDefaultCertificate(t *testing.T) {
	ca := newTestCA(t, "test CA")
	certFile, keyFile := ca.files(t, "store default", "store.example")
	m := newManager(t, Config{})
	update(t, m, State{DefaultCertificate: &dynamic.Certificate{CertFile: certFile, KeyFile: keyFile}})
	addr := serveTLS(t, m, "127.0.0.1:0")
	if got := mustHandshake(t, addr, "x.example", nil).Subject.CommonName; got != "store default" {
		t.Fatalf("got %q; want tls.stores.default.defaultCertificate", got)
	}
	update(t, m, State{})
	if c := mustHandshake(t, addr, "x.example", nil); !isDefault(c) {
		t.Fatalf("got %q; without a store default the generated one is back", c.Subject.CommonName)
	}
}
