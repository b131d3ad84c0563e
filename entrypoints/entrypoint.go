// Package entrypoints owns wharf's listeners: every one is bound before anything is served
// (so a port in use stops startup with its name), each has its own http.Server with the
// edge-safe timeouts, and each request passes the edge guards before it reaches the router.
package entrypoints

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults from SECURITY.md: safe at the edge without tuning.
const (
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultReadTimeout          = 60 * time.Second
	DefaultIdleTimeout          = 180 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxHeaderCount       = 100
	DefaultMaxConcurrentStreams = 100

	http2DefaultFrameSize = 16 << 10 // RFC 9113 SETTINGS_MAX_FRAME_SIZE initial value
)

// Config describes one entrypoint.
type Config struct {
	Name    string
	Address string // host:port; ":80" listens on every address

	ReadHeaderTimeout time.Duration // 0: DefaultReadHeaderTimeout; also bounds the TLS handshake
	ReadTimeout       time.Duration // whole request; 0: DefaultReadTimeout; lifted after an upgrade
	WriteTimeout      time.Duration // 0: none (responses may stream for long)
	IdleTimeout       time.Duration // keep-alive; 0: DefaultIdleTimeout
	// WriteStallTimeout closes a connection when a write to the client makes no progress for
	// this long (a client that stops reading: slow read). It applies when WriteTimeout is 0,
	// and to HTTP/2 always. 0: the idle timeout.
	WriteStallTimeout time.Duration

	MaxHeaderBytes       int // 0: DefaultMaxHeaderBytes
	MaxHeaderCount       int // more header fields than this answers 431; 0: DefaultMaxHeaderCount
	MaxConcurrentStreams int // HTTP/2; 0: DefaultMaxConcurrentStreams

	// TrustedIPs are the peers whose X-Forwarded-*, Forwarded and X-Real-Ip headers are kept;
	// from everyone else they are removed on arrival. InsecureForwarded trusts everyone.
	TrustedIPs        []netip.Prefix
	InsecureForwarded bool

	// Redirect, when set, answers every request with a redirect (http -> https), after
	// Intercept has had its chance (ACME HTTP-01 challenges must not be redirected).
	Redirect *Redirect

	// Intercept sees every request first and returns true when it answered it.
	Intercept func(w http.ResponseWriter, r *http.Request) bool

	// ConnState, when set, sees every connection's state changes (open-connection metrics).
	ConnState func(net.Conn, http.ConnState)

	// TLS, when set, lets this entrypoint terminate TLS: each connection is served as TLS
	// or plain HTTP by its first byte, so one port can do both (as Traefik's do).
	TLS *tls.Config

	// SameTLSOptions, with TLS, checks that a request's Host selects the TLS options its
	// connection's SNI selected; a request that does not is answered 421.
	SameTLSOptions func(sni, host string) bool

	Log zerolog.Logger
}

func (c *Config) withDefaults() {
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxHeaderCount == 0 {
		c.MaxHeaderCount = DefaultMaxHeaderCount
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.WriteStallTimeout == 0 {
		c.WriteStallTimeout = c.IdleTimeout
	}
}

// EntryPoint is a bound listener and the server that will serve it.
type EntryPoint struct {
	cfg Config
	ln  net.Listener
	hop hop // this entrypoint's mark on requests it passes on, for loop detection

	mu      sync.Mutex // guards srv, edge and stopped: Shutdown may come while Serve starts
	srv     *http.Server
	edge    *edgeListener
	stopped bool
}

// Listen binds every entrypoint. If any address cannot be bound, the ones already bound are
// closed and the error names the entrypoint and the address.
func Listen(cfgs []Config) ([]*EntryPoint, error) {
	eps := make([]*EntryPoint, 0, len(cfgs))
	for _, c := range cfgs {
		c.withDefaults()
		ln, err := net.Listen("tcp", c.Address)
		if err != nil {
			for _, e := range eps {
				_ = e.ln.Close()
			}
			return nil, fmt.Errorf("entrypoint %q: cannot listen on %q: %w", c.Name, c.Address, unwrapListen(err))
		}
		eps = append(eps, &EntryPoint{cfg: c, ln: ln, hop: newHop()})
	}
	return eps, nil
}

func unwrapListen(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Name is the entrypoint's name.
func (e *EntryPoint) Name() string { return e.cfg.Name }

// Addr is the bound address (useful with port 0).
func (e *EntryPoint) Addr() net.Addr { return e.ln.Addr() }

// Serve serves h behind the edge guards until Shutdown. It returns nil after a Shutdown.
func (e *EntryPoint) Serve(h http.Handler) error {
	c := e.cfg
	var tc *tls.Config
	if c.TLS != nil {
		// net/http negotiates HTTP/2 because TLSConfig offers h2; the listener does the
		// handshake itself, under the read header timeout.
		tc = c.TLS.Clone()
	}
	srv := &http.Server{
		Handler:           e.guard(h),
		TLSConfig:         tc,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: c.MaxConcurrentStreams,
			WriteByteTimeout:     c.WriteStallTimeout,
			// The RFC's default frame size rather than net/http's 1 MiB: a client cannot
			// make wharf read (and buffer) frames larger than 16 KiB.
			MaxReadFrameSize: http2DefaultFrameSize,
		},
		ConnContext: connContext,
		ErrorLog:    log.New(logWriter{c.Log}, "", 0),
		Protocols:   new(http.Protocols),
	}
	// The guard answers "OPTIONS *" as net/http would, after counting it: a request net/http
	// answered on its own would put the guard's count of a connection's requests one
	// behind the framing check's, and the request the check refused would be served.
	srv.DisableGeneralOptionsHandler = true
	// HTTP/1.1, HTTP/2 over TLS, and HTTP/2 with prior knowledge on plain connections (gRPC
	// clients without TLS). The h2c *upgrade* is never honoured (see stripHopByHop).
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	ln := newEdgeListener(e.ln, &c, tc)
	srv.ConnState = ln.connState // it calls c.ConnState
	e.srv, e.edge = srv, ln
	e.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets requests in flight finish until ctx is done, then closes
// what is left.
func (e *EntryPoint) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	srv := e.srv
	e.stopped = true
	e.mu.Unlock()
	if srv == nil {
		return e.ln.Close()
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	return err
}

// logWriter sends net/http's own messages (TLS handshake errors, panics) to zerolog.
type logWriter struct{ log zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("source", "net/http").Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		return p[:n-1]
	}
	return p
}
