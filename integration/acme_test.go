package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/internal/testpebble"
)

// These tests run the wharf binary against a real ACME server (Pebble, see
// internal/testpebble) with the static configuration a Traefik user writes:
//
//	certificatesResolvers.le.acme.{email, caServer, storage, caCertificates, profile,
//	  httpChallenge.entryPoint | tlsChallenge, onDemand.allow}
//
// and a file-provider router with tls.certResolver=le. Pebble validates on fixed ports it
// was configured with, so the entrypoint that answers the challenge binds that port. The
// profile is set because Pebble gives an order without one a random profile, sometimes a
// two-minute certificate. acme.onDemand is wharf's own key (Traefik has no on-demand TLS).

// acmeStatic is the static configuration. web (HTTP-01) listens on Pebble's httpPort and
// redirects to websecure; websecure listens on Pebble's tlsPort when it answers TLS-ALPN-01.
type acmeStatic struct {
	p         *testpebble.Pebble
	dynamic   string
	storage   string
	challenge string // "http" or "tls"
	onDemand  string // YAML of acme.onDemand, "" for none
}

func (s acmeStatic) yaml() string {
	challenge := "      httpChallenge:\n        entryPoint: web\n"
	secure := "127.0.0.1:0"
	if s.challenge == "tls" {
		challenge = "      tlsChallenge: {}\n"
		secure = fmt.Sprintf("127.0.0.1:%d", s.p.TLSPort)
	}
	onDemand := ""
	if s.onDemand != "" {
		onDemand = "      onDemand:\n" + s.onDemand
	}
	return fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:%d"
    http:
      redirections:
        entryPoint:
          to: websecure
          scheme: https
  websecure:
    address: %q
certificatesResolvers:
  le:
    acme:
      email: ci@example.com
      caServer: %q
      storage: %q
      caCertificates:
        - %q
      profile: default
%s%sproviders:
  file:
    filename: %q
api:
  address: "127.0.0.1:0"
`, s.p.HTTPPort, secure, s.p.DirectoryURL, s.storage, s.p.RootsPEM, challenge, onDemand, s.dynamic)
}

// acmeDynamic has a router with a resolver for each of hosts, on websecure, plus a catch-all
// router on web with the highest priority: it must not shadow HTTP-01 challenges.
func acmeDynamic(t *testing.T, backendURL string, rules ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("http:\n  routers:\n")
	for i, r := range rules {
		fmt.Fprintf(&b, "    site%d:\n      rule: %q\n      entryPoints: [websecure]\n      service: app\n      tls:\n        certResolver: le\n", i, r)
	}
	b.WriteString("    catchall:\n      rule: \"PathPrefix(`/`)\"\n      priority: 2147483646\n      entryPoints: [web]\n      service: app\n")
	fmt.Fprintf(&b, "  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: %q\n", backendURL)
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, path, b.String())
	return path
}

// httpsGet fetches https://host/path from addr, trusting only roots.
func httpsGet(ctx context.Context, addr, host, path string, roots *x509.CertPool) (int, string, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		return 0, "", err
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// waitHTTPS polls until host answers over HTTPS with a certificate that verifies.
func waitHTTPS(t *testing.T, addr, host string, roots *x509.CertPool, within time.Duration) string {
	t.Helper()
	var body string
	start := time.Now()
	Eventually(t, within, "a verified HTTPS answer for "+host, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code, b, err := httpsGet(ctx, addr, host, "/hello", roots)
		body = b
		return err == nil && code == http.StatusOK
	})
	t.Logf("%s served over HTTPS %v after wharf was ready", host, time.Since(start).Round(time.Millisecond))
	return body
}

func TestACMEHTTP01EndToEnd(t *testing.T) {
	p := testpebble.Start(t)
	app := named(t, "blog")
	st := acmeStatic{p: p, dynamic: acmeDynamic(t, app.URL, "Host(`blog.test`)"), storage: t.TempDir(), challenge: "http"}
	w := StartWharf(t, st.yaml())

	if body := waitHTTPS(t, w.Addr("websecure"), "blog.test", p.IssuedRoots(), 30*time.Second); body != "blog /hello" {
		t.Fatalf("got %q; want the backend's answer", body)
	}
	// The entrypoint redirect: permanent, same host, path and query, to https.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+w.Addr("web")+"/a/b?x=1&y=2", nil)
	req.Host = "blog.test"
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusMovedPermanently || loc == nil || loc.Scheme != "https" || loc.Hostname() != "blog.test" || loc.RequestURI() != "/a/b?x=1&y=2" {
		t.Fatalf("redirect: %d %q; want 301 to https://blog.test/a/b?x=1&y=2", res.StatusCode, res.Header.Get("Location"))
	}
	checkKeyFiles(t, st.storage)
}

func TestACMETLSALPN01EndToEnd(t *testing.T) {
	p := testpebble.Start(t)
	app := named(t, "shop")
	st := acmeStatic{p: p, dynamic: acmeDynamic(t, app.URL, "Host(`shop.test`)"), storage: t.TempDir(), challenge: "tls"}
	w := StartWharf(t, st.yaml())
	if body := waitHTTPS(t, w.Addr("websecure"), "shop.test", p.IssuedRoots(), 30*time.Second); body != "shop /hello" {
		t.Fatalf("got %q; want the backend's answer", body)
	}
}

func TestACMERestartWithCADownEndToEnd(t *testing.T) {
	p := testpebble.Start(t)
	app := named(t, "kept")
	st := acmeStatic{p: p, dynamic: acmeDynamic(t, app.URL, "Host(`kept.test`)"), storage: t.TempDir(), challenge: "http"}
	w := StartWharf(t, st.yaml())
	waitHTTPS(t, w.Addr("websecure"), "kept.test", p.IssuedRoots(), 30*time.Second)
	w.Stop()
	p.Stop()

	w = StartWharf(t, st.yaml())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := httpsGet(ctx, w.Addr("websecure"), "kept.test", "/hello", p.IssuedRoots())
	if err != nil || code != http.StatusOK || body != "kept /hello" {
		t.Fatalf("after a restart with the CA down: %d %q %v; want the stored certificate served at once", code, body, err)
	}
}

func TestACMEOnDemandEndToEnd(t *testing.T) {
	p := testpebble.Start(t)
	app := named(t, "apps")
	st := acmeStatic{p: p, dynamic: acmeDynamic(t, app.URL, "Host(`*.apps.test`)"), storage: t.TempDir(), challenge: "tls",
		onDemand: "        allow: [extra.test]\n"}
	w := StartWharf(t, st.yaml())
	addr := w.Addr("websecure")

	start := time.Now()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "refused.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake for a name outside the policy: %v", err)
	}
	cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	conn.Close()
	if d := time.Since(start); cn != "WHARF DEFAULT CERT" || d > time.Second {
		t.Fatalf("refused.test got %q after %v; want the default certificate at once", cn, d)
	}
	for _, host := range []string{"one.apps.test", "extra.test"} {
		start := time.Now()
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: host, RootCAs: p.IssuedRoots()})
		if err != nil {
			t.Fatalf("first handshake for %s: %v", host, err)
		}
		conn.Close()
		t.Logf("on-demand: first handshake for %s took %v", host, time.Since(start).Round(time.Millisecond))
	}
}

func TestACMEUnwritableStorageStopsStartup(t *testing.T) {
	p := testpebble.Start(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(file, "certs") // as root, a path under a file is the reliable way
	st := acmeStatic{p: p, dynamic: acmeDynamic(t, named(t, "x").URL, "Host(`x.test`)"), storage: storage, challenge: "http"}
	w := startWharf(t, st.yaml())
	if err := w.Wait(15 * time.Second); err == nil {
		t.Fatal("wharf started with an unwritable certificate storage")
	}
	if out := strings.Join(w.Raw(), "\n"); !strings.Contains(out, storage) {
		t.Fatalf("the error does not name the storage path %s:\n%s", storage, out)
	}
}

// checkKeyFiles: every private key in storage is readable by its owner only.
func checkKeyFiles(t *testing.T, storage string) {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(storage, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".key") {
			n++
			if st, err := os.Stat(path); err == nil && st.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v; want 0600", path, st.Mode().Perm())
			}
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no key files in %s", storage)
	}
}
