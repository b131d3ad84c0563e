package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// The fast backend runs as a child process of the harness (the harness's own binary, re-run
// with roleEnv set), so that its CPU is its own and "the backend alone" is a peer like the
// others. It answers every request with the same small body.
const (
	roleEnv    = "WHARFBENCH_ROLE"
	roleCert   = "WHARFBENCH_CERT"
	roleKey    = "WHARFBENCH_KEY"
	backendMsg = "backend listening"
)

var (
	backendBody   = []byte("hello from the bench backend\n")
	backendLength = []string{fmt.Sprint(len(backendBody))}
	backendType   = []string{"text/plain; charset=utf-8"}
)

func backendHandler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = backendType
	h["Content-Length"] = backendLength
	_, _ = w.Write(backendBody)
}

// runChildRole runs the role named in the environment, if any, and then exits; it returns
// when this process is the harness itself.
func runChildRole() {
	if os.Getenv(roleEnv) != "backend" {
		return
	}
	if err := serveBackend(os.Getenv(roleCert), os.Getenv(roleKey)); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveBackend listens on two ports of 127.0.0.1 (plain HTTP/1.1, and TLS 1.3 with h2 and
// http/1.1), prints both addresses on one line and serves until killed.
func serveBackend(certFile, keyFile string) error {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	newServer := func() *http.Server {
		return &http.Server{
			Handler:           http.HandlerFunc(backendHandler),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       10 * time.Minute, // idle connections are a scenario: keep them
		}
	}
	s1, s2 := newServer(), newServer()
	s2.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	fmt.Printf("%s http=%s https=%s\n", backendMsg, plain.Addr(), secure.Addr())
	errc := make(chan error, 2)
	go func() { errc <- s1.Serve(plain) }()
	go func() { errc <- s2.ServeTLS(secure, "", "") }()
	return <-errc
}
