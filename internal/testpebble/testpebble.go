// Package testpebble runs a real ACME server (Pebble) and its DNS companion
// (pebble-challtestsrv) on loopback for tests, following the recipe checked in
// docs/design ACME.md: fresh ports per instance, no sleeps, processes killed by PID.
//
// It installs nothing: `make test` runs
//
//	GOBIN=$PWD/.bin go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1 \
//	    github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.1
//
// and Start finds the binaries in $WHARFTEST_BIN_DIR or <repo>/.bin. A missing binary fails the
// test (a silently skipped ACME suite is how certificate bugs reach users); only `go test
// -short` skips.
package testpebble

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Version is the Pebble release the tests are written against.
const Version = "v2.10.1"

const module = "github.com/letsencrypt/pebble/v2"

// Pebble is one running Pebble plus challtestsrv. Every field is fixed after Start.
type Pebble struct {
	// DirectoryURL is the ACME directory, https://127.0.0.1:<port>/dir.
	DirectoryURL string
	// RootsPEM is the file of the CA that signed Pebble's own HTTPS certificate
	// (pebble.minica.pem): trust it for the ACME API only, never for issued certificates.
	RootsPEM string
	// IssuedRootPEM is the file of the root that signs the certificates this instance issues.
	// Pebble makes a new one on every start and keeps no state.
	IssuedRootPEM string
	// HTTPPort and TLSPort are where Pebble's validator connects for HTTP-01 and
	// TLS-ALPN-01 (on 127.0.0.1, which challtestsrv answers for every name).
	HTTPPort, TLSPort int
	// DNSAddr is challtestsrv's DNS server and MgmtAddr its management API (/set-txt, ...).
	DNSAddr, MgmtAddr string
	// PebbleMgmtURL is Pebble's management API (https), for /roots/0 and /intermediates/0.
	PebbleMgmtURL string

	dir    string
	pebble *exec.Cmd
	chall  *exec.Cmd
	t      testing.TB
}

// Start runs challtestsrv and Pebble on free 127.0.0.1 ports, waits until the directory
// answers and fetches the issuing root. Both processes are killed in t.Cleanup.
func Start(t testing.TB) *Pebble {
	t.Helper()
	if testing.Short() {
		t.Skip("ACME tests run a real Pebble; skipped with -short")
	}
	bin := binDir(t)
	pebbleBin, challBin := filepath.Join(bin, "pebble"), filepath.Join(bin, "pebble-challtestsrv")
	for _, b := range []string{pebbleBin, challBin} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%s not found (%v); install it with:\n  GOBIN=%s go install %s/cmd/pebble@%s %s/cmd/pebble-challtestsrv@%s",
				b, err, bin, module, Version, module, Version)
		}
	}
	src := moduleDir(t)
	p := &Pebble{dir: t.TempDir(), t: t, RootsPEM: filepath.Join(src, "test/certs/pebble.minica.pem")}
	ports := freePorts(t, 6)
	p.HTTPPort, p.TLSPort = ports[4], ports[5]
	p.DNSAddr, p.MgmtAddr = loopback(ports[2]), loopback(ports[3])
	p.DirectoryURL = "https://" + loopback(ports[0]) + "/dir"
	p.PebbleMgmtURL = "https://" + loopback(ports[1])
	conf := p.writeConfig(t, src, ports[0], ports[1])

	p.chall = p.spawn(t, "challtestsrv", challBin, nil,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", p.DNSAddr, "-management", p.MgmtAddr,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	p.pebble = p.spawn(t, "pebble", pebbleBin,
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", conf, "-dnsserver", p.DNSAddr, "-strict=false")

	start := time.Now()
	p.waitReady(t)
	p.IssuedRootPEM = filepath.Join(p.dir, "root.pem")
	if err := os.WriteFile(p.IssuedRootPEM, p.get(t, p.PebbleMgmtURL+"/roots/0"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("pebble %s ready in %v: %s (validates http-01 on :%d, tls-alpn-01 on :%d)",
		Version, time.Since(start).Round(time.Millisecond), p.DirectoryURL, p.HTTPPort, p.TLSPort)
	return p
}

// Stop kills Pebble (challtestsrv keeps running), as when the CA is down. It is safe to call
// more than once; Start's cleanup calls it too.
func (p *Pebble) Stop() {
	kill(p.pebble)
}

// IssuedRoots is a pool holding IssuedRootPEM: what a client trusts to verify certificates
// from this instance.
func (p *Pebble) IssuedRoots() *x509.CertPool { return p.pool(p.IssuedRootPEM) }

// ACMERoots is a pool holding RootsPEM: what an ACME client trusts to talk to the directory.
func (p *Pebble) ACMERoots() *x509.CertPool { return p.pool(p.RootsPEM) }

func (p *Pebble) pool(file string) *x509.CertPool {
	pem, err := os.ReadFile(file)
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		p.t.Fatalf("%s: no certificate", file)
	}
	return pool
}

// SetTXT publishes a TXT record through challtestsrv (for DNS-01 tests). host is a
// fully qualified name with the final dot.
func (p *Pebble) SetTXT(ctx context.Context, host, value string) error {
	return p.mgmt(ctx, "/set-txt", map[string]string{"host": host, "value": value})
}

// ClearTXT removes the TXT records of host.
func (p *Pebble) ClearTXT(ctx context.Context, host string) error {
	return p.mgmt(ctx, "/clear-txt", map[string]string{"host": host})
}

func (p *Pebble) mgmt(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.MgmtAddr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv %s: %s", path, resp.Status)
	}
	return nil
}

// writeConfig writes pebble.json with absolute paths (relative ones resolve against Pebble's
// working directory) and one profile, since an order without a profile gets a random one.
func (p *Pebble) writeConfig(t testing.TB, src string, acmePort, mgmtPort int) string {
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  loopback(acmePort),
		"managementListenAddress":        loopback(mgmtPort),
		"certificate":                    filepath.Join(src, "test/certs/localhost/cert.pem"),
		"privateKey":                     filepath.Join(src, "test/certs/localhost/key.pem"),
		"httpPort":                       p.HTTPPort,
		"tlsPort":                        p.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"keyAlgorithm":                   "ecdsa",
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": 7776000},
			"shortlived": map[string]any{"description": "2 minutes", "validityPeriod": 120},
		},
	}}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(p.dir, "pebble.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// spawn starts a process with its output in a log file, shown if the test fails.
func (p *Pebble) spawn(t testing.TB, name, bin string, env []string, args ...string) *exec.Cmd {
	logPath := filepath.Join(p.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		kill(cmd)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s log (%s) ---\n%s", name, logPath, tail(b, 8<<10))
			}
		}
	})
	return cmd
}

// waitReady polls the directory with a deadline (Pebble is ready in 0.1 to 0.35 s here).
func (p *Pebble) waitReady(t testing.TB) {
	client := p.apiClient(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(p.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if p.pebble.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("pebble did not become ready at %s: %v", p.DirectoryURL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Pebble) get(t testing.TB, url string) []byte {
	resp, err := p.apiClient(t).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}

func (p *Pebble) apiClient(t testing.TB) *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ACMERoots()}},
	}
}

func kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// binDir is $WHARFTEST_BIN_DIR, or .bin at the root of the module being tested.
func binDir(t testing.TB) string {
	if d := os.Getenv("WHARFTEST_BIN_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory; set WHARFTEST_BIN_DIR")
		}
		dir = parent
	}
}

// moduleDir is Pebble's source in the module cache, for its test certificates. It is
// downloaded when missing, from a temporary directory so that the project's go.sum is not
// touched.
func moduleDir(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), module+"@"+Version)
	if _, err := os.Stat(filepath.Join(dir, "test/certs/pebble.minica.pem")); err == nil {
		return dir
	}
	cmd := exec.Command("go", "mod", "download", module+"@"+Version)
	cmd.Dir = t.TempDir()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download %s@%s: %v\n%s", module, Version, err, b)
	}
	return dir
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are released before use, so
// another process could take one in between; on loopback in a test run that is rare enough.
func freePorts(t testing.TB, n int) []int {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	// The DNS port is also used over UDP: make sure that one is free too.
	if pc, err := net.ListenPacket("udp", loopback(ports[2])); err == nil {
		pc.Close()
	} else {
		t.Fatalf("udp port %d: %v", ports[2], err)
	}
	return ports
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
