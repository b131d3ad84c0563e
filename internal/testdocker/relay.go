package testdocker

import (
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BackendPackage is the test backend's main package (see internal/testbackend).
const BackendPackage = "github.com/wharfproxy/wharf/internal/testbackend/cmd/testbackend"

// BackendImage is the test backend in a FROM scratch image that exposes port 80 and has a
// health check (`/app -healthcheck`, GET /health). Containers that should be served as soon
// as they start run with RunSpec.NoHealthcheck; health tests set RunSpec.HealthInterval.
func BackendImage() ImageSpec {
	return ImageSpec{Package: BackendPackage, Expose: []string{"80/tcp"}, HealthCheck: []string{"-healthcheck"}}
}

// Relay is a unix socket that forwards every connection to the engine's socket, and that a
// test can cut and restore: it stands in for an engine that restarts or a socket that goes
// away, without touching the real engine.
type Relay struct {
	path   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// EngineSocket is the path of the engine's unix socket: DOCKER_HOST when it is a unix
// endpoint, else /var/run/docker.sock.
func EngineSocket() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		if u, err := url.Parse(h); err == nil {
			return u.Path
		}
	}
	return "/var/run/docker.sock"
}

// StartRelay listens on a fresh socket that forwards to the engine, until the test ends.
func StartRelay(t testing.TB) *Relay {
	t.Helper()
	// A short directory: socket paths are limited to about 100 bytes, and t.TempDir's are long.
	dir, err := os.MkdirTemp("", "wharf-relay-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{path: filepath.Join(dir, "docker.sock"), target: EngineSocket(), conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		r.Cut()
		r.wg.Wait()
		os.RemoveAll(dir)
	})
	if err := r.Resume(); err != nil {
		t.Fatal(err)
	}
	return r
}

// Endpoint is the relay's address for a Docker client: unix://<path>.
func (r *Relay) Endpoint() string { return "unix://" + r.path }

// Cut closes the listener and every relayed connection, as an engine restart would. Until
// Resume, new connections are refused (the socket file is gone).
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
	os.Remove(r.path)
}

// Resume listens again on the same path.
func (r *Relay) Resume() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return nil
	}
	os.Remove(r.path)
	ln, err := net.Listen("unix", r.path)
	if err != nil {
		return err
	}
	r.ln = ln
	r.wg.Add(1)
	go r.accept(ln)
	return nil
}

func (r *Relay) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", r.target)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(ln, c, up) {
			continue
		}
		r.wg.Add(2)
		go r.pipe(c, up)
		go r.pipe(up, c)
	}
}

// track registers a relayed pair unless the relay was cut meanwhile.
func (r *Relay) track(ln net.Listener, c, up net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != ln {
		c.Close()
		up.Close()
		return false
	}
	r.conns[c], r.conns[up] = struct{}{}, struct{}{}
	return true
}

// pipe copies one direction; when either side ends, the pair is closed, as a dropped
// engine connection would be.
func (r *Relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	io.Copy(dst, src)
	src.Close()
	dst.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, src)
	delete(r.conns, dst)
}
