package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHostCanonicalization: routing and TLS options read the host the same way (case, a
// trailing dot and the port do not matter), so neither can be used to reach a mutual-TLS
// router with a connection that did not present a client certificate: such a request is
// answered 421 Misdirected Request, over HTTP/1.1 and HTTP/2 alike.
func TestHostCanonicalization(t *testing.T) {
	ng := startNginx(t)
	pki := newTestPKI(t)
	pubCert, pubKey := pki.issue(t, false, "public.test")
	mtlsCert, mtlsKey := pki.issue(t, false, "mtls.test")
	w := startSecWharf(t, "", fmt.Sprintf(`
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
    public:
      rule: Host(`+"`public.test`"+`)
      service: public
      tls: {}
    mtls:
      rule: Host(`+"`mtls.test`"+`)
      service: mtls
      tls:
        options: mtls
  services:
%s%s%s
tls:
  certificates:
    - certFile: %q
      keyFile: %q
    - certFile: %q
      keyFile: %q
  options:
    mtls:
      clientAuth:
        caFiles: [%q]
        clientAuthType: RequireAndVerifyClientCert
`, backendYAML("app", "http://"+ng.Addr+"/app-svc"), backendYAML("public", "http://"+ng.Addr+"/public-svc"),
		backendYAML("mtls", "http://"+ng.Addr+"/mtls-svc"), pubCert, pubKey, mtlsCert, mtlsKey, pki.CAFile))
	addr := w.Addr("web")
	client := pki.clientCert(t, "client")

	t.Run("routing_ignores_case_dot_and_port", func(t *testing.T) {
		for _, host := range []string{"app.test", "APP.Test", "app.test.", "App.Test.:8080", "app.test:1"} {
			ex := rawExchange(addr, "GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", 10*time.Second)
			if ex.err != nil || len(ex.responses) != 1 || ex.responses[0].StatusCode != 200 || parseEcho(ex.bodies[0])["uri"] != "/app-svc/x" {
				t.Errorf("Host %q: %v %v %q; want the app router", host, ex.err, statuses(ex), ex.bodies)
			}
		}
	})
	t.Run("tls_routers_not_served_in_plain_http", func(t *testing.T) {
		ex := rawExchange(addr, "GET / HTTP/1.1\r\nHost: mtls.test\r\nConnection: close\r\n\r\n", 10*time.Second)
		if len(ex.responses) != 1 || ex.responses[0].StatusCode != 404 {
			t.Errorf("plain HTTP to a TLS router: %v %v", ex.err, statuses(ex))
		}
	})

	for _, tc := range []struct {
		name       string
		sni, host  string
		clientCert bool
		status     int
		service    string
	}{
		{"mtls_with_certificate", "mtls.test", "mtls.test", true, 200, "mtls"},
		{"mtls_sni_and_host_in_other_case_dot_and_port", "MTLS.Test.", "mtls.TEST.:443", true, 200, "mtls"},
		{"public", "public.test", "public.test", false, 200, "public"},
		{"public_sni_and_host_in_other_case_dot_and_port", "Public.Test.", "PUBLIC.test:8443", false, 200, "public"},
		{"public_sni_mtls_host_is_421", "public.test", "mtls.test", false, 421, ""},
		{"public_sni_mtls_host_in_other_case_dot_and_port_is_421", "public.test", "MTLS.test.:443", false, 421, ""},
		{"no_sni_mtls_host_is_421", "", "mtls.test", false, 421, ""},
		{"mtls_sni_public_host_is_421", "mtls.test", "public.test", true, 421, ""},
	} {
		for _, proto := range []string{"http/1.1", "h2"} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				tc2 := &tls.Config{RootCAs: pki.Roots, ServerName: tc.sni, NextProtos: []string{proto}}
				if tc.sni == "" {
					tc2.InsecureSkipVerify = true // no name to verify against
				}
				if tc.clientCert {
					tc2.Certificates = []tls.Certificate{client}
				}
				code, body, gotProto, err := tlsGet(addr, tc.host, tc2)
				if err != nil {
					t.Fatal(err)
				}
				if gotProto != map[string]string{"h2": "HTTP/2.0", "http/1.1": "HTTP/1.1"}[proto] {
					t.Errorf("spoke %s; want %s", gotProto, proto)
				}
				if code != tc.status {
					t.Fatalf("got %d %q; want %d", code, body, tc.status)
				}
				if tc.service != "" && parseEcho(body)["uri"] != "/"+tc.service+"-svc/" {
					t.Errorf("served by %q; want %s", parseEcho(body)["uri"], tc.service)
				}
			})
		}
	}

	t.Run("mtls_without_certificate_fails_the_handshake", func(t *testing.T) {
		_, _, _, err := tlsGet(addr, "mtls.test", &tls.Config{RootCAs: pki.Roots, ServerName: "mtls.test"})
		if err == nil {
			t.Fatal("a mutual-TLS host answered a client without a certificate")
		}
	})
}

// tlsGet sends GET / with the given Host over a new TLS connection configured by tc.
func tlsGet(addr, host string, tc *tls.Config) (int, string, string, error) {
	tr := &http.Transport{
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: len(tc.NextProtos) > 0 && tc.NextProtos[0] == "h2",
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/", nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Host = host
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Proto, err
}
