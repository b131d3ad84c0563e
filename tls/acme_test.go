package tls

import (
	"crypto/tls"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharfproxy/wharf/internal/testpebble"
)

// These tests obtain real certificates from Pebble (see internal/testpebble), each from
// its own instance on its own ports, so they run in parallel.

func pebbleResolver(p *testpebble.Pebble, storage, challenge string) ResolverConfig {
	return ResolverConfig{
		Name: "le", CA: p.DirectoryURL, Email: "ci@example.com", Storage: storage,
		TrustedRoots: []string{p.RootsPEM}, Challenge: challenge,
		HTTPPort: p.HTTPPort, TLSPort: p.TLSPort,
		Profile: "default", DisableARI: true, // 90-day certificates, renewal at a fixed point
	}
}

// updateFast checks that Update returns without waiting for the CA.
func updateFast(t *testing.T, m *Manager, s State) {
	t.Helper()
	start := time.Now()
	update(t, m, s)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Update took %v; it must not wait for issuance", d)
	}
}

func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	p := testpebble.Start(t)
	storage := t.TempDir()
	reg := prometheus.NewRegistry()
	m := newManager(t, Config{Resolvers: []ResolverConfig{pebbleResolver(p, storage, ChallengeHTTP)}, Metrics: reg})
	serveHTTP(t, m, loopback(p.HTTPPort)) // the port-80 entrypoint: HTTPChallenge before routing
	addr := serveTLS(t, m, "127.0.0.1:0")

	updateFast(t, m, State{Managed: []Name{{Host: "http01.test", Resolver: "le"}}})
	took := waitVerified(t, addr, "http01.test", p.IssuedRoots(), 30*time.Second)
	t.Logf("HTTP-01: certificate served %v after Update", took.Round(time.Millisecond))

	body, resp := get(t, addr, "http01.test", p.IssuedRoots())
	if _, port, _ := net.SplitHostPort(addr); body != "backend http01.test:"+port+" HTTP/2.0" {
		t.Fatalf("GET over HTTPS: %q (%s); want the backend's answer over HTTP/2", body, resp.Proto)
	}
	checkKeyFiles(t, storage)
	checkInfo(t, m, "http01.test")
	checkGauge(t, reg, "http01.test")

	// The router goes away: the name is no longer served or renewed.
	update(t, m, State{})
	if c := mustHandshake(t, addr, "http01.test", nil); !isDefault(c) {
		t.Fatalf("after the router left, got %q; want the default certificate", c.Subject.CommonName)
	}
	if _, err := m.configForCert(certmagic.Certificate{Names: []string{"http01.test"}}); err == nil {
		t.Fatal("maintenance would still renew a name no router uses")
	}
	for _, ci := range m.Certificates() {
		if ci.Managed {
			t.Fatalf("Certificates() still lists %v", ci.Names)
		}
	}
}

func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	p := testpebble.Start(t)
	m := newManager(t, Config{Resolvers: []ResolverConfig{pebbleResolver(p, t.TempDir(), ChallengeTLS)}})
	addr := serveTLS(t, m, loopback(p.TLSPort)) // the TLS entrypoint answers the challenge itself

	updateFast(t, m, State{Managed: []Name{{Host: "alpn.test", Resolver: "le"}}})
	took := waitVerified(t, addr, "alpn.test", p.IssuedRoots(), 30*time.Second)
	t.Logf("TLS-ALPN-01: certificate served %v after Update", took.Round(time.Millisecond))
	if body, _ := get(t, addr, "alpn.test", p.IssuedRoots()); !strings.HasPrefix(body, "backend alpn.test:") || !strings.HasSuffix(body, "HTTP/2.0") {
		t.Fatalf("GET over HTTPS: %q", body)
	}
}

func TestACMERestartWithCADown(t *testing.T) {
	t.Parallel()
	p := testpebble.Start(t)
	storage := t.TempDir()
	rc := pebbleResolver(p, storage, ChallengeHTTP)
	first, err := New(Config{Resolvers: []ResolverConfig{rc}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, first, loopback(p.HTTPPort))
	addr := serveTLS(t, first, "127.0.0.1:0")
	update(t, first, State{Managed: []Name{{Host: "kept.test", Resolver: "le"}}})
	waitVerified(t, addr, "kept.test", p.IssuedRoots(), 30*time.Second)
	first.Close()
	p.Stop()

	// A new process on the same storage, with the CA down.
	m := newManager(t, Config{Resolvers: []ResolverConfig{rc}})
	addr = serveTLS(t, m, "127.0.0.1:0")
	start := time.Now()
	update(t, m, State{Managed: []Name{{Host: "kept.test", Resolver: "le"}, {Host: "new.test", Resolver: "le"}}})
	if _, _, err := handshake(t, addr, "kept.test", &tls.Config{RootCAs: p.IssuedRoots()}); err != nil {
		t.Fatalf("right after Update, the stored certificate is not served: %v", err)
	}
	t.Logf("restart: stored certificate served %v after Update, CA down", time.Since(start).Round(time.Millisecond))
	if c := mustHandshake(t, addr, "new.test", nil); !isDefault(c) {
		t.Fatalf("a name without a certificate got %q; want the default certificate", c.Subject.CommonName)
	}
	// The failed attempt is reported, and serving never waited for it.
	deadline := time.Now().Add(15 * time.Second)
	for lastError(m, "new.test") == "" {
		if time.Now().After(deadline) {
			t.Fatal("the failure to reach the CA is not reported in Certificates()")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("reported: %s", lastError(m, "new.test"))
}

func TestACMEOnDemand(t *testing.T) {
	t.Parallel()
	p := testpebble.Start(t)
	m := newManager(t, Config{
		Resolvers: []ResolverConfig{pebbleResolver(p, t.TempDir(), ChallengeTLS)},
		OnDemand:  &OnDemand{Allow: []string{"allowed.test"}, Wait: 20 * time.Second},
	})
	addr := serveTLS(t, m, loopback(p.TLSPort))
	update(t, m, State{OnDemandAllowed: func(h string) bool { return h == "router.test" }})

	start := time.Now()
	c := mustHandshake(t, addr, "refused.test", nil)
	if d := time.Since(start); !isDefault(c) || d > 300*time.Millisecond {
		t.Fatalf("a name outside the policy got %q after %v; want the default certificate at once", c.Subject.CommonName, d)
	}
	m.onDemand.mu.Lock()
	started := len(m.onDemand.flights) + len(m.onDemand.names)
	m.onDemand.mu.Unlock()
	if started != 0 {
		t.Fatal("an issuance was started for a name outside the policy")
	}
	for _, name := range []string{"allowed.test", "router.test"} {
		start := time.Now()
		if _, _, err := handshake(t, addr, name, &tls.Config{RootCAs: p.IssuedRoots()}); err != nil {
			t.Fatalf("first handshake for %s: %v", name, err)
		}
		t.Logf("on-demand: first handshake for %s took %v", name, time.Since(start).Round(time.Millisecond))
	}
	start = time.Now()
	mustHandshake(t, addr, "router.test", &tls.Config{RootCAs: p.IssuedRoots()})
	t.Logf("on-demand: later handshake took %v", time.Since(start).Round(time.Millisecond))

	// The router goes away: its on-demand certificate is dropped; the allow-list one stays.
	update(t, m, State{})
	if c := mustHandshake(t, addr, "router.test", nil); !isDefault(c) {
		t.Fatalf("after its router left, router.test got %q", c.Subject.CommonName)
	}
	mustHandshake(t, addr, "allowed.test", &tls.Config{RootCAs: p.IssuedRoots()})
}

// checkKeyFiles: every private key certmagic wrote is readable by its owner only.
func checkKeyFiles(t *testing.T, storage string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(storage, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".key") {
			return err
		}
		n++
		st, err := os.Stat(path)
		if err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; want 0600", path, st.Mode().Perm())
		}
		return err
	})
	if err != nil || n < 2 { // the account key and the certificate key
		t.Fatalf("found %d key files in %s (%v); want at least 2", n, storage, err)
	}
}

func checkInfo(t *testing.T, m *Manager, name string) {
	t.Helper()
	for _, ci := range m.Certificates() {
		if ci.Managed && len(ci.Names) == 1 && ci.Names[0] == name {
			left := time.Until(ci.NotAfter)
			if ci.Resolver != "le" || !strings.Contains(ci.Issuer, "Pebble") || left < 80*24*time.Hour || ci.LastError != "" {
				t.Fatalf("Certificates() entry %+v; want resolver le, a Pebble issuer, ~90 days, no error", ci)
			}
			return
		}
	}
	t.Fatalf("Certificates() = %+v; no entry for %s", m.Certificates(), name)
}

func checkGauge(t *testing.T, reg *prometheus.Registry, name string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "wharf_tls_certificate_not_after_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["name"] == name && labels["resolver"] == "le" && mt.GetGauge().GetValue() > float64(time.Now().Unix()) {
				return
			}
		}
	}
	t.Fatalf("no expiry gauge for %s", name)
}

func lastError(m *Manager, name string) string {
	for _, ci := range m.Certificates() {
		if len(ci.Names) == 1 && ci.Names[0] == name {
			return ci.LastError
		}
	}
	return ""
}
