package integration

// Shared pieces of the security suite (security_*_test.go): the tools it runs (nginx,
// slowhttptest, h2spec), wharf with a file-provider configuration, raw-socket exchanges and
// test certificates. Every process is started here and ended by its PID.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// secTool finds a tool the suite needs: in $WHARFTEST_BIN_DIR or <module>/.bin (Go tools
// installed by `make tools`), then on PATH and in /usr/sbin (Debian packages). A missing
// tool fails the test, or skips it under -short.
func secTool(t testing.TB, name string) string {
	t.Helper()
	dirs := []string{os.Getenv("WHARFTEST_BIN_DIR"), filepath.Join("..", ".bin")}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	if testing.Short() {
		t.Skipf("%s is not installed; skipped under -short (make tools installs it)", name)
	}
	t.Fatalf("%s is not installed: run `make tools` (or use -short to skip this test)", name)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// proc is a process a test started; stop ends it by its PID.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
}

func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{}), out: &lockedBuffer{}}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// stop sends SIGTERM, then SIGKILL after grace, to this process only.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit on its own, up to timeout.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nginx is Debian's nginx as a lenient backend: it accepts underscores and invalid header
// names, and answers every request with what it received, one "key=value" per line. Its
// access log records every request it saw, so a test can tell that a smuggled request
// never reached it.
type nginx struct {
	Addr     string
	dir      string
	barriers int
}

// nginxEcho is what nginx answers: the request as it parsed it.
const nginxEcho = `request=$request\nhost=$http_host\nxff=$http_x_forwarded_for\nxrealip=$http_x_real_ip\n` +
	`forwarded=$http_forwarded\nxfproto=$http_x_forwarded_proto\nxfhost=$http_x_forwarded_host\n` +
	`xauthuser=$http_x_auth_user\nsecret=$http_x_secret\nte=$http_transfer_encoding\ncl=$content_length\n` +
	`upgrade=$http_upgrade\nconnection=$http_connection\nhttp2settings=$http_http2_settings\nhop=$http_x_wharf_hop\n` +
	`uri=$request_uri\n`

func startNginx(t testing.TB) *nginx {
	t.Helper()
	bin := secTool(t, "nginx")
	dir := t.TempDir()
	// nginx binds no port of its own: it inherits a socket bound to port 0 (its NGINX
	// environment variable), so two tests never race for a port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // the duplicate in f stays open and listening
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()
	// A master process (our child, stopped by its PID, which stops its worker): nginx 1.22
	// crashes on inherited sockets in single-process mode.
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  log_format sec '$request|$http_host|$http_x_forwarded_for|$content_length|$http_transfer_encoding';
  access_log %[1]s/access.log sec;
  underscores_in_headers on;
  ignore_invalid_headers off;
  large_client_header_buffers 8 64k;
  keepalive_requests 100000;
  server {
    listen %[2]s;
    location / {
      default_type text/plain;
      return 200 "%[3]s";
    }
  }
}
`, dir, addr, nginxEcho)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-e", "stderr", "-p", dir, "-c", path)
	cmd.Env = append(os.Environ(), "NGINX=3;")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	p := startProc(t, cmd)
	n := &nginx{Addr: addr, dir: dir}
	Eventually(t, 10*time.Second, "nginx answering on "+addr, func() bool {
		select {
		case <-p.done:
			t.Fatalf("nginx exited:\n%s", p.out.String())
		default:
		}
		res, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx log:\n%s", p.out.String())
		}
	})
	return n
}

// Requests returns the access log: one line per request nginx saw. nginx writes a line just
// after it answers, so Requests first sends a request of its own straight to nginx and waits
// for that line: with one worker, every request answered before it is logged by then.
func (n *nginx) Requests() []string {
	n.barriers++
	mark := fmt.Sprintf("/barrier-%d ", n.barriers)
	var lines []string
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + n.Addr + strings.TrimSpace(mark))
	if err == nil {
		res.Body.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
		lines = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if strings.Contains(string(b), mark) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, "/barrier-") {
			out = append(out, l)
		}
	}
	return out
}

// parseEcho reads nginx's answer into a map.
func parseEcho(body string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// secStatic is wharf's static configuration for a security test: entrypoint "web" (plain
// and TLS on one port) with the given extra YAML under it, a file provider, no API.
func secStatic(dynamicPath, entrypointYAML string) string {
	return fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
%s
providers:
  file:
    filename: %q
api: false
`, indent(entrypointYAML, "    "), dynamicPath)
}

func indent(s, prefix string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// startSecWharf writes the dynamic configuration and starts wharf with it.
func startSecWharf(t testing.TB, entrypointYAML, dynamic string) *Wharf {
	t.Helper()
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, dynamic)
	return StartWharf(t, secStatic(dyn, entrypointYAML))
}

// exchange is what one raw request got back.
type exchange struct {
	responses []*http.Response
	bodies    []string
	closed    bool // the server closed the connection
	err       error
}

// rawExchange sends req as written on a fresh connection and reads every response wharf
// sends for it. When wharf keeps the connection open after the first response, a probe
// request (GET /probe with Connection: close) follows, and everything up to the close is
// read: a second answer to the first request, or a smuggled request's answer, would show up
// as an extra response before the probe's. The whole exchange is bounded by timeout.
func rawExchange(addr, req string, timeout time.Duration) exchange {
	var ex exchange
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		ex.err = err
		return ex
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		ex.err = err
		return ex
	}
	br := bufio.NewReader(c)
	probed := false
	for len(ex.responses) < 8 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			ex.closed = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)
			if !ex.closed {
				ex.err = err
			}
			return ex
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ex.responses = append(ex.responses, res)
		ex.bodies = append(ex.bodies, string(b))
		if res.Close {
			// Wharf said it closes: anything after this would be a second response.
			if _, err := br.ReadByte(); err == nil {
				ex.err = errors.New("bytes after a response that announced Connection: close")
			} else {
				ex.closed = true
			}
			return ex
		}
		if !probed {
			probed = true
			if _, err := io.WriteString(c, "GET /probe HTTP/1.1\r\nHost: probe.test\r\nConnection: close\r\n\r\n"); err != nil {
				ex.closed = true
				return ex
			}
		}
	}
	ex.err = errors.New("more than 8 responses")
	return ex
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// testPKI is a throwaway CA with what the TLS tests need: server certificates for names,
// and client certificates for mutual TLS.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
	Roots  *x509.CertPool
	serial int64
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wharf security test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, Roots: x509.NewCertPool(), serial: 1}
	p.Roots.AddCert(ca)
	p.CAFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

// issue returns the paths of a certificate and key for names (server) or for a client.
func (p *testPKI) issue(t testing.TB, client bool, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.DNSNames = names
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(p.dir, strconv.FormatInt(p.serial, 10))
	certFile, keyFile = base+".crt", base+".key"
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

func (p *testPKI) clientCert(t testing.TB, name string) tls.Certificate {
	t.Helper()
	cf, kf := p.issue(t, true, name)
	c, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rssKiB is the resident memory of a process, from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return -1
}

// backendYAML is a service named name with one server. A path in the URL is kept
// (preservePath), so that tests can tell services apart by the path nginx receives.
func backendYAML(name, url string) string {
	return fmt.Sprintf("    %s:\n      loadBalancer:\n        servers:\n          - url: %q\n            preservePath: true\n", name, url)
}
