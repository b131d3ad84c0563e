// Command socketproxy is a minimal read-only Docker socket proxy. The socket-proxy and
// home-server examples use tecnativa/docker-socket-proxy, which the tests cannot pull (no
// registry is reachable), so the tests build this instead and put it in its place.
//
// Like that image configured with CONTAINERS=1 and NETWORKS=1 (EVENTS, PING and VERSION are
// on by default there), it forwards GET and HEAD requests for the engine's ping, version,
// events, containers and networks endpoints to the socket, and answers 403 to everything
// else: no POST, no exec, no images, no volumes.
//
// Environment: LISTEN (default ":2375"), DOCKER_SOCKET (default "/var/run/docker.sock").
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

// allowed are the sections the proxy forwards, after an optional /vX.Y version prefix.
var allowed = regexp.MustCompile(`^(?:/v[0-9]+\.[0-9]+)?/(?:_ping|version|events|containers(?:/.*)?|networks(?:/.*)?)$`)

func main() {
	socket := envOr("DOCKER_SOCKET", "/var/run/docker.sock")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}},
		FlushInterval: -1, // the event stream is forwarded as it comes
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !allowed.MatchString(r.URL.Path) {
			http.Error(w, "forbidden by the read-only socket proxy", http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: envOr("LISTEN", ":2375"), Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	// As PID 1 in a container, a process without a SIGTERM handler makes `docker stop` wait.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "socketproxy:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
