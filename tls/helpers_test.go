package tls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testLog collects the Manager's log (certmagic's included) and prints it if the test
// fails. It is buffered rather than sent to t.Log because certmagic's goroutines may still
// log for a moment after the test ends, and t.Log then panics.
func testLog(t testing.TB) zerolog.Logger {
	w := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("WHARF_TEST_LOG") != "" {
			t.Logf("--- manager log ---\n%s", w.String())
		}
	})
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: "15:04:05.000"}).
		With().Timestamp().Logger().Level(zerolog.DebugLevel)
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *logBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	cfg.Log = testLog(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

func update(t testing.TB, m *Manager, s State) {
	t.Helper()
	if err := m.Update(context.Background(), s); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// testCA issues certificates for static-certificate and mutual-TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

// issue returns PEM certificate and key for names (server) or a client certificate when
// names is empty.
func (ca *testCA) issue(t testing.TB, cn string, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", kb)
}

// files writes a certificate and key to a temporary directory and returns their paths.
func (ca *testCA) files(t testing.TB, cn string, names ...string) (certFile, keyFile string) {
	t.Helper()
	c, k := ca.issue(t, cn, names...)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	return certFile, keyFile
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves a backend that answers "backend <host>" on addr ("127.0.0.1:0" for any
// port) with the Manager's TLS config, the way entrypoints do: a tls.Listener under an
// http.Server whose TLSConfig is the same config, so HTTP/2 is negotiated.
func serveTLS(t testing.TB, m *Manager, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := m.TLSConfig().Clone()
	srv := &http.Server{Handler: backend(), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// serveHTTP serves the backend on addr behind m.HTTPChallenge, like the port-80 entrypoint.
func serveHTTP(t testing.TB, m *Manager, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	be := backend()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.HTTPChallenge(w, r) {
			return
		}
		be.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// quietLog drops net/http's handshake errors: tests provoke them on purpose.
var quietLog = log.New(io.Discard, "", 0)

func backend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "backend "+r.Host+" "+r.Proto)
	})
}

// handshake connects to addr with SNI name and returns the server's leaf certificate
// (unverified) and the connection state.
func handshake(t testing.TB, addr, name string, cfg *tls.Config) (*x509.Certificate, tls.ConnectionState, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName = name
	if cfg.RootCAs == nil {
		cfg.InsecureSkipVerify = true
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, tls.ConnectionState{}, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return st.PeerCertificates[0], st, nil
}

func mustHandshake(t testing.TB, addr, name string, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	c, _, err := handshake(t, addr, name, cfg)
	if err != nil {
		t.Fatalf("handshake %s (SNI %q): %v", addr, name, err)
	}
	return c
}

// waitVerified polls until a handshake for name verifies against roots (the certificate
// was obtained and is served), and returns how long that took.
func waitVerified(t testing.TB, addr, name string, roots *x509.CertPool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < within {
		_, _, err = handshake(t, addr, name, &tls.Config{RootCAs: roots})
		if err == nil {
			return time.Since(start)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no verified certificate for %s within %v: %v", name, within, err)
	return 0
}

// get fetches https://name/ through addr, trusting roots, and returns the body.
func get(t testing.TB, addr, name string, roots *x509.CertPool) (string, *http.Response) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(addr)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + net.JoinHostPort(name, port) + "/")
	if err != nil {
		t.Fatalf("GET https://%s/: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp
}

func isDefault(c *x509.Certificate) bool { return c.Subject.CommonName == DefaultCertCommonName }

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
