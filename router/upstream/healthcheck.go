package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HealthCheckConfig is an active health check, with Traefik's options and defaults.
type HealthCheckConfig struct {
	GRPC     bool   // the gRPC health protocol (grpc.health.v1.Health/Check) instead of HTTP
	Scheme   string // "": the server's
	Path     string // HTTP mode: required; may carry a query
	Method   string // "": GET
	Hostname string // the Host header; "": the server's host
	Port     int    // 0: the server's
	Headers  http.Header
	// Interval between checks of a healthy server (default 30s), and of an unhealthy one
	// (default Interval): a shorter UnhealthyInterval brings a recovered server back sooner.
	Interval, UnhealthyInterval time.Duration
	Timeout                     time.Duration // default 5s
	// Status holds the statuses that mean healthy; empty: any 2xx or 3xx.
	Status          StatusSet
	FollowRedirects bool
	// H2C, when set, is the transport for gRPC checks of servers whose scheme is plain http
	// (gRPC needs HTTP/2; h2c and https servers use their own transport).
	H2C http.RoundTripper
}

// Defaults of the active health check (Traefik's).
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
)

func (c HealthCheckConfig) withDefaults() HealthCheckConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultHealthInterval
	}
	if c.UnhealthyInterval <= 0 {
		c.UnhealthyInterval = c.Interval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHealthTimeout
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	return c
}

// checker probes one server.
type checker struct {
	cfg    *HealthCheckConfig
	b      *Balancer
	s      *Server
	url    string // what is probed, for the log
	req    *http.Request
	client *http.Client
}

// startHealthChecks starts one goroutine per server, ended by ctx (the table generation's).
func startHealthChecks(ctx context.Context, b *Balancer, hc *HealthCheckConfig) error {
	cfg := hc.withDefaults()
	checkers := make([]*checker, len(b.servers))
	for i, s := range b.servers {
		ck, err := newChecker(&cfg, b, s)
		if err != nil {
			return err // before any starts: a service that fails to build leaves nothing running
		}
		checkers[i] = ck
	}
	for _, ck := range checkers {
		go ck.run(ctx)
	}
	return nil
}

func newChecker(cfg *HealthCheckConfig, b *Balancer, s *Server) (*checker, error) {
	u := *s.target
	if cfg.Scheme != "" {
		u.Scheme = cfg.Scheme
	}
	if cfg.Port > 0 {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(cfg.Port))
	}
	transport := s.transport
	method, body := cfg.Method, http.NoBody
	if cfg.GRPC {
		u.Path, u.RawPath, u.RawQuery = "/grpc.health.v1.Health/Check", "", ""
		method = http.MethodPost
		if s.URL.Scheme == "http" && cfg.H2C != nil {
			transport = cfg.H2C
		}
	} else {
		ref, err := url.Parse(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("healthCheck: path %q: %v", cfg.Path, err)
		}
		u = *u.ResolveReference(ref)
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("healthCheck: %v", err)
	}
	for k, v := range cfg.Headers {
		req.Header[k] = v
	}
	req.Host = cfg.Hostname
	if h := cfg.Headers.Get("Host"); h != "" {
		req.Host = h
	}
	if cfg.GRPC {
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
	}
	client := &http.Client{Transport: transport, Timeout: cfg.Timeout}
	if !cfg.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &checker{cfg: cfg, b: b, s: s, url: u.Redacted(), req: req, client: client}, nil
}

// run probes the server every interval until ctx ends. Every generation of a table that keeps
// the service runs its own loop for a while (until the old one is cancelled); they share the
// server's state and claim each probe through lastProbe, so a server is not probed twice as
// often during a reload, nor at once after every reload.
func (ck *checker) run(ctx context.Context) {
	st := ck.s.state
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		interval := ck.cfg.Interval
		if st.activeDown.Load() {
			interval = ck.cfg.UnhealthyInterval
		}
		last := st.lastProbe.Load()
		now := time.Now().UnixNano()
		if wait := time.Duration(last + int64(interval) - now); last != 0 && wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			continue
		}
		if !st.lastProbe.CompareAndSwap(last, now) {
			continue // another generation's loop took this probe
		}
		err := ck.probe(ctx)
		if ctx.Err() != nil {
			st.lastProbe.CompareAndSwap(now, last) // give the probe back to the next generation
			return
		}
		ck.record(err)
	}
}

func (ck *checker) record(err error) {
	reason := ""
	if err != nil {
		reason = "health check " + ck.url + ": " + err.Error()
	}
	if !ck.s.state.setActive(err == nil, reason) {
		return
	}
	log := ck.b.cfg.Log
	if err != nil {
		log.Warn().Str("service", ck.b.cfg.Service).Str("server", ck.s.URL.Redacted()).Str("reason", reason).Msg("server is down: its health check failed")
	} else {
		log.Info().Str("service", ck.b.cfg.Service).Str("server", ck.s.URL.Redacted()).Msg("server is up: its health check passed")
	}
}

// probe runs one check; nil means healthy.
func (ck *checker) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ck.cfg.Timeout)
	defer cancel()
	req := ck.req.Clone(ctx)
	if ck.cfg.GRPC {
		req.Body = io.NopCloser(strings.NewReader(grpcEmptyRequest))
		req.ContentLength = int64(len(grpcEmptyRequest))
	}
	resp, err := ck.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the reason already
		}
		return err
	}
	defer resp.Body.Close()
	if ck.cfg.GRPC {
		return grpcServing(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
	if ok := ck.cfg.Status.Has(resp.StatusCode); ok || (ck.cfg.Status.Empty() && resp.StatusCode >= 200 && resp.StatusCode < 400) {
		return nil
	}
	return fmt.Errorf("status %d", resp.StatusCode)
}

// grpcEmptyRequest is a gRPC frame holding an empty HealthCheckRequest (service ""): the
// whole server's health. Uncompressed, length 0.
const grpcEmptyRequest = "\x00\x00\x00\x00\x00"

// grpcServing reads a HealthCheckResponse: healthy when its status (field 1) is SERVING (1)
// and grpc-status is 0. The message is parsed by hand so that wharf does not depend on
// grpc-go for five bytes of protobuf.
func grpcServing(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("grpc: HTTP status %d", resp.StatusCode)
	}
	if gs := resp.Header.Get("Grpc-Status"); gs != "" && gs != "0" { // trailers-only answer
		return fmt.Errorf("grpc: status %s %s", gs, resp.Header.Get("Grpc-Message"))
	}
	frame, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return fmt.Errorf("grpc: %v", err)
	}
	if gs := resp.Trailer.Get("Grpc-Status"); gs != "0" {
		return fmt.Errorf("grpc: status %q %s", gs, resp.Trailer.Get("Grpc-Message"))
	}
	if len(frame) < 5 || frame[0] != 0 {
		return errors.New("grpc: no uncompressed response message")
	}
	msg := frame[5:]
	status := uint64(0) // UNKNOWN when absent
	for len(msg) >= 2 {
		tag := msg[0]
		if tag != 0x08 { // only field 1, varint, is expected
			return fmt.Errorf("grpc: unexpected field tag %#x", tag)
		}
		v, n := binary.Uvarint(msg[1:])
		if n <= 0 {
			return errors.New("grpc: bad varint")
		}
		status, msg = v, msg[1+n:]
	}
	if status != 1 {
		return fmt.Errorf("grpc: serving status %d, want SERVING (1)", status)
	}
	return nil
}
