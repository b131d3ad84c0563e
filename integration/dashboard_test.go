package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharfproxy/wharf/internal/testdocker"
)

// dashboardDynamic is the file provider's part: a router with TLS and a middleware, and a
// static certificate.
func dashboardDynamic(appURL, certFile, keyFile string) string {
	return fmt.Sprintf(`http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`) && PathPrefix(`+"`/api`"+`)
      service: app
      middlewares: [strip]
      tls: {}
  services:
    app:
      loadBalancer:
        servers:
          - url: %s
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/api]
tls:
  certificates:
    - certFile: %s
      keyFile: %s
`, appURL, certFile, keyFile)
}

// TestDashboardInChromium loads the dashboard in a real headless Chromium while a container
// with a mistyped label starts: the error appears by itself (no reload), first and in red,
// naming the container, the label and the fix; the file's router, the service with its
// server's health and the certificate with its days to expiry are shown. Removing the
// container clears the error. Screenshots at desktop and phone sizes are saved under
// integration/out/.
func TestDashboardInChromium(t *testing.T) {
	browser := chromiumPath(t)
	e := testdocker.Require(t)
	image := e.BuildImageT(t, testdocker.BackendImage())
	caseID := e.Name("dashboard")
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir, "static.test", time.Now().Add(40*24*time.Hour))
	dyn := filepath.Join(dir, "dynamic.yml")
	app := named(t, "A")
	writeAtomic(t, dyn, dashboardDynamic(app.URL, certFile, keyFile))
	static := fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  file:
    filename: %q
  docker:
    endpoint: %q
    constraints: "Label(`+"`%s`, `%s`"+`)"
api:
  address: "127.0.0.1:0"
`, dyn, "unix://"+testdocker.EngineSocket(), caseLabel, caseID)
	w := StartWharf(t, static)
	Eventually(t, 5*time.Second, "api address in the log", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.API != "" })

	ctx := browse(t, browser)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+w.API+"/dashboard/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	ct := e.Run(t, testdocker.RunSpec{Image: image, Base: "blog", NoHealthcheck: true, Labels: map[string]string{
		"wharf.enable": "true", caseLabel: caseID,
		"wharf.http.routers.blog.rule":   "Host(`blog.test`)",
		"wharf.http.routers.blog.servce": "blog",
	}})
	started := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.body.innerText.includes(%q)`, ct.Name),
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the container's error never showed on the open page: %v", err)
	}
	t.Logf("the label error showed on the dashboard %v after docker run returned", time.Since(started).Round(time.Millisecond))
	text := pageText(ctx, t)
	for _, want := range []string{
		"Configuration errors", "container " + ct.Name, "label wharf.http.routers.blog.servce", `unknown key "servce"`,
		"Fix: write service", "app@file", "Host(`app.test`) && PathPrefix(`/api`)", "TLS", "strip@file", "→ app@file",
		app.URL, "up", "static.test", "days left", "Entrypoint web",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the dashboard does not show %q", want)
		}
	}
	errorsColor, err := chromedp.Run(ctx,
		chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.error-item.error .error-msg')).color`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(errorsColor, "rgb(198, 40, 40)") && !strings.HasPrefix(errorsColor, "rgb(255, 123, 114)") {
		t.Errorf("the error is shown in %s; want red", errorsColor)
	}
	if i, j := strings.Index(text, "Configuration errors"), strings.Index(text, "Routers"); i < 0 || j < i {
		t.Errorf("errors are not shown before the routers")
	}
	// wharf check sees the same container, label and fix.
	staticFile := filepath.Join(dir, "wharf.yml")
	if err := os.WriteFile(staticFile, []byte(static), 0o600); err != nil {
		t.Fatal(err)
	}
	checkOut, code := runCheck(t, "check", "--config", staticFile)
	if code != 1 || !strings.Contains(checkOut, fmt.Sprintf("container %q", ct.Name)) ||
		!strings.Contains(checkOut, `label "wharf.http.routers.blog.servce"`) || !strings.Contains(checkOut, `fix: write "service"`) {
		t.Errorf("wharf check with the container running: exit %d\n%s", code, checkOut)
	}

	out := screenshotDir(t)
	screenshot(ctx, t, filepath.Join(out, "dashboard-desktop.png"))
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	screenshot(ctx, t, filepath.Join(out, "dashboard-phone.png"))

	// The container goes away: the page follows the event stream and clears the error.
	e.Remove(t, ct.ID)
	if err := chromedp.Do(ctx, chromedp.WaitNotVisible(chromedp.CSS(`#errors`))); err != nil {
		t.Fatalf("the error did not clear after the container was removed: %v", err)
	}
}

// browse starts a headless Chromium with the flags CI needs and returns a tab's context.
func browse(t *testing.T, browser string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return ctx
}

// pageText is what the page shows, as a reader sees it.
func pageText(ctx context.Context, t *testing.T) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// chromiumPath finds Debian's chromium. Without it the test fails (`make tools` installs
// it), except in -short runs, which skip browser tests.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("no chromium; skipped in -short mode")
	}
	t.Fatal("no chromium on PATH: install it with `make tools` (apt-get install chromium chromium-driver)")
	return ""
}

// screenshotDir is integration/out/<test>, kept after the run (and ignored by git).
func screenshotDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("out", t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(ctx context.Context, t *testing.T, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// writeSelfSigned writes a self-signed certificate for name and its key, and returns their paths.
func writeSelfSigned(t *testing.T, dir, name string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		Issuer: pkix.Name{CommonName: name}, DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
