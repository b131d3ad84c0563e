// Package upstream sends requests to backends: the transports (connection pools) that live for
// the whole process, the forwarder built on httputil.ReverseProxy, and the load balancers that
// choose a server for each request.
package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// TransportConfig is everything that makes two transports differ. It is a comparable value
// so that it can key the pool: services that talk to backends the same way share one
// connection pool, across table generations.
type TransportConfig struct {
	H2C                   bool // cleartext HTTP/2 to the backend (gRPC without TLS)
	DisableHTTP2          bool
	ServerName            string
	InsecureSkipVerify    bool
	RootCAs               string // files joined by "\n"; "" means the system roots
	ClientCert, ClientKey string
	MaxIdleConnsPerHost   int
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
}

// Defaults from SECURITY.md: a backend that does not accept a connection within 15 s or does
// not answer headers within 60 s is given up on.
const (
	DefaultDialTimeout           = 15 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	// Go's default of 2 idle connections per host makes a busy proxy dial constantly.
	DefaultMaxIdleConnsPerHost = 256
)

func (c TransportConfig) withDefaults() TransportConfig {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.IdleConnTimeout == 0 {
		c.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	return c
}

// Transports is the process-wide pool of transports. Table generations come and go; the
// transports, and the idle connections in them, stay, so a reload never costs a reconnect.
type Transports struct {
	mu sync.Mutex
	m  map[TransportConfig]*Transport
}

// NewTransports returns an empty pool.
func NewTransports() *Transports {
	return &Transports{m: make(map[TransportConfig]*Transport)}
}

// Transport is the connection pool of one TransportConfig. Bodiless requests to plain
// http:// backends take the in-goroutine HTTP/1.1 path (see h1Transport); everything else,
// and every backend spoken to over TLS or h2c, goes through the standard http.Transport.
type Transport struct {
	std *http.Transport
	h1  *h1Transport // nil for h2c
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.h1 != nil && h1Eligible(req) {
		return t.h1.RoundTrip(req)
	}
	return t.std.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of both paths.
func (t *Transport) CloseIdleConnections() {
	t.std.CloseIdleConnections()
	if t.h1 != nil {
		t.h1.closeIdle()
	}
}

// ResponseHeaderTimeout is how long a backend may take to start its answer.
func (t *Transport) ResponseHeaderTimeout() time.Duration { return t.std.ResponseHeaderTimeout }

// Get returns the shared transport for cfg, creating it on first use.
func (p *Transports) Get(cfg TransportConfig) (*Transport, error) {
	cfg = cfg.withDefaults()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.m[cfg]; ok {
		return t, nil
	}
	t, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	p.m[cfg] = t
	return t, nil
}

// CloseIdle closes idle connections of every transport, for shutdown.
func (p *Transports) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.m {
		t.CloseIdleConnections()
	}
}

func newTransport(cfg TransportConfig) (*Transport, error) {
	std, err := newStdTransport(cfg)
	if err != nil {
		return nil, err
	}
	t := &Transport{std: std}
	if !cfg.H2C {
		t.h1 = newH1Transport(cfg)
	}
	return t, nil
}

func newStdTransport(cfg TransportConfig) (*http.Transport, error) {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		// Never honour HTTP_PROXY for backends: wharf is the proxy.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0, // no global cap; the per-host cap bounds each backend
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ExpectContinueTimeout: 1 * time.Second,
		ForceAttemptHTTP2:     !cfg.DisableHTTP2,
		// The client's Accept-Encoding is forwarded as is; the transport must not add gzip
		// and decompress behind the client's back.
		DisableCompression: true,
	}
	tc, err := tlsClientConfig(cfg)
	if err != nil {
		return nil, err
	}
	t.TLSClientConfig = tc
	if cfg.H2C {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t, nil
}

func tlsClientConfig(cfg TransportConfig) (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // the user asked for it, per serversTransport
		MinVersion:         tls.VersionTLS12,
	}
	if cfg.RootCAs != "" {
		pool := x509.NewCertPool()
		for _, f := range splitLines(cfg.RootCAs) {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("root CA %q: %w", f, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("root CA %q: no PEM certificate in it", f)
			}
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate %q: %w", cfg.ClientCert, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
