// Command testbackend serves testbackend.Backend. It is built statically (CGO_ENABLED=0)
// into FROM scratch images for tests against a real Docker engine, where there is no shell:
// `testbackend -healthcheck` is the image's HEALTHCHECK command.
//
// Environment: NAME (what the backend answers as; default: the hostname), PORTS
// (comma-separated ports to listen on; default 80).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wharfproxy/wharf/internal/testbackend"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe http://127.0.0.1:<first port>/health and exit 0 when it answers 200")
	flag.Parse()
	ports := strings.Split(envOr("PORTS", "80"), ",")
	if *healthcheck {
		os.Exit(probe(strings.TrimSpace(ports[0])))
	}
	host, _ := os.Hostname()
	name := envOr("NAME", host)
	if err := serve(name, ports); err != nil {
		fmt.Fprintln(os.Stderr, "testbackend:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func probe(port string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/health")
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// serve listens on every port until SIGTERM or SIGINT. The handlers matter: as PID 1 in a
// container, a process without them ignores SIGTERM and `docker stop` waits its full timeout.
func serve(name string, ports []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	h := testbackend.New(name)
	errc := make(chan error, len(ports))
	var servers []*http.Server
	for _, p := range ports {
		s := &http.Server{Addr: ":" + strings.TrimSpace(p), Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() { errc <- s.ListenAndServe() }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	return nil
}
