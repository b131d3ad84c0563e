package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// optionsState selects options by canonical host the way StateFor does, through a router.
func optionsState(t *testing.T, opts map[string]*dynamic.TLSOptions, routes ...Route) State {
	t.Helper()
	s, errs := StateFor(routes, &dynamic.TLSConfiguration{Options: opts})
	if len(errs) > 0 {
		t.Fatalf("StateFor: %v", errs)
	}
	return s
}

func tlsRoute(name, rule, options string) Route {
	return Route{Name: name, Rule: rule, TLS: &dynamic.RouterTLS{Options: options}}
}

func TestOptionsSelectedByCanonicalHost(t *testing.T) {
	m := newManager(t, Config{})
	update(t, m, optionsState(t, map[string]*dynamic.TLSOptions{
		"modern@file": {MinVersion: "VersionTLS13"},
	}, tlsRoute("app@file", "Host(`mixedcase.example.com`)", "modern@file")))
	addr := serveTLS(t, m, "127.0.0.1:0")

	for _, sni := range []string{"mixedcase.example.com", "MixedCase.Example.COM.", "MIXEDCASE.EXAMPLE.COM"} {
		t.Run(sni, func(t *testing.T) {
			_, _, err := handshake(t, addr, sni, &tls.Config{MaxVersion: tls.VersionTLS12})
			if err == nil {
				t.Fatalf("TLS 1.2 handshake with SNI %q succeeded; the host's options require TLS 1.3", sni)
			}
			_, st, err := handshake(t, addr, sni, nil)
			if err != nil || st.Version != tls.VersionTLS13 {
				t.Fatalf("TLS 1.3 handshake with SNI %q: version %x, %v", sni, st.Version, err)
			}
		})
	}
	t.Run("other hosts use the default", func(t *testing.T) {
		if _, _, err := handshake(t, addr, "other.example.com", &tls.Config{MaxVersion: tls.VersionTLS12}); err != nil {
			t.Fatalf("TLS 1.2 to a host without options: %v", err)
		}
	})
}

func TestDefaultMinVersionIsTLS12(t *testing.T) {
	m := newManager(t, Config{})
	addr := serveTLS(t, m, "127.0.0.1:0")
	_, _, err := handshake(t, addr, "a.example", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded; the default minimum is TLS 1.2")
	}
	_, st, err := handshake(t, addr, "a.example", &tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil || st.Version != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2: version %x, %v", st.Version, err)
	}
}

func TestHTTP2Negotiated(t *testing.T) {
	m := newManager(t, Config{})
	addr := serveTLS(t, m, "127.0.0.1:0")
	_, st, err := handshake(t, addr, "a.example", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil || st.NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN: got %q, %v; want h2", st.NegotiatedProtocol, err)
	}
}

func TestMutualTLSOption(t *testing.T) {
	ca := newTestCA(t, "client CA")
	caFile := t.TempDir() + "/ca.pem"
	writeFile(t, caFile, ca.pem)
	m := newManager(t, Config{})
	update(t, m, optionsState(t, map[string]*dynamic.TLSOptions{
		"mtls@file": {ClientAuth: &dynamic.ClientAuth{CAFiles: []string{caFile}}},
	}, tlsRoute("secure@file", "Host(`secure.example`)", "mtls@file")))
	addr := serveTLS(t, m, "127.0.0.1:0")

	// In TLS 1.3 the client learns of a rejected certificate on its first read.
	tryGet := func(cfg *tls.Config) error {
		cfg.ServerName, cfg.InsecureSkipVerify = "secure.example", true
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: secure.example\r\n\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 64)
		_, err = conn.Read(buf)
		return err
	}
	if err := tryGet(&tls.Config{}); err == nil {
		t.Fatal("a client without a certificate was served; the options require one")
	}
	certPEM, keyPEM := ca.issue(t, "client")
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := tryGet(&tls.Config{Certificates: []tls.Certificate{pair}}); err != nil {
		t.Fatalf("a client with a certificate from the CA: %v", err)
	}
	other := newTestCA(t, "other CA")
	certPEM, keyPEM = other.issue(t, "intruder")
	pair, _ = tls.X509KeyPair(certPEM, keyPEM)
	if err := tryGet(&tls.Config{Certificates: []tls.Certificate{pair}}); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	if err := tryGet2(addr, "plain.example"); err != nil {
		t.Fatalf("a host without the options should not ask for a client certificate: %v", err)
	}
}

func tryGet2(addr, sni string) error {
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + sni + "\r\n\r\n"))
	if err == nil {
		_, err = conn.Read(make([]byte, 64))
	}
	return err
}

func TestBadOptionsNameTheirSourceAndKeepTheLastGoodVersion(t *testing.T) {
	m := newManager(t, Config{})
	src := dynamic.Source{Provider: "file", File: "dynamic.yml", Line: 12, Col: 5}
	route := tlsRoute("app@file", "Host(`app.example`)", "strict@file")
	good := optionsState(t, map[string]*dynamic.TLSOptions{"strict@file": {MinVersion: "VersionTLS13", Source: src}}, route)
	update(t, m, good)
	addr := serveTLS(t, m, "127.0.0.1:0")

	bad := optionsState(t, map[string]*dynamic.TLSOptions{"strict@file": {MinVersion: "TLS1.3", CipherSuites: []string{"TLS_NOPE"}, Source: src}}, route)
	err := m.Update(context.Background(), bad)
	var errs dynamic.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Update returned %v; want dynamic.Errors", err)
	}
	for _, want := range []string{"dynamic.yml:12:5", `"TLS1.3"`, "unknown TLS version", `"TLS_NOPE"`, "previous version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, _, err := handshake(t, addr, "app.example", &tls.Config{MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS 1.2 accepted: the last good options (TLS 1.3 only) should still apply")
	}
}

func TestBrokenOptionsWithoutAGoodVersionFailClosed(t *testing.T) {
	m := newManager(t, Config{})
	st := optionsState(t, map[string]*dynamic.TLSOptions{
		"mtls@file": {ClientAuth: &dynamic.ClientAuth{CAFiles: []string{"/nonexistent/ca.pem"}}},
	}, tlsRoute("app@file", "Host(`app.example`)", "mtls@file"))
	if err := m.Update(context.Background(), st); err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Fatalf("Update: %v; want an error naming the CA file", err)
	}
	addr := serveTLS(t, m, "127.0.0.1:0")
	if _, _, err := handshake(t, addr, "app.example", nil); err == nil {
		t.Fatal("handshake succeeded with broken mutual-TLS options; it must fail rather than skip client authentication")
	}
	if _, _, err := handshake(t, addr, "elsewhere.example", nil); err != nil {
		t.Fatalf("other hosts must keep working: %v", err)
	}
}

func TestUndefinedOptionsFailTheHandshake(t *testing.T) {
	m := newManager(t, Config{})
	update(t, m, optionsState(t, nil, tlsRoute("app@file", "Host(`app.example`)", "missing@file")))
	addr := serveTLS(t, m, "127.0.0.1:0")
	if _, _, err := handshake(t, addr, "app.example", nil); err == nil {
		t.Fatal("handshake succeeded with undefined options")
	}
}

func TestCompileOptions(t *testing.T) {
	m := newManager(t, Config{})
	cases := []struct {
		name string
		in   dynamic.TLSOptions
		err  string // "" when valid
	}{
		{"versions", dynamic.TLSOptions{MinVersion: "VersionTLS12", MaxVersion: "versiontls13"}, ""},
		{"max below min", dynamic.TLSOptions{MinVersion: "VersionTLS13", MaxVersion: "VersionTLS12"}, "lower than minVersion"},
		{"cipher suite", dynamic.TLSOptions{CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, ""},
		{"cipher typo", dynamic.TLSOptions{CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA265"}}, "did you mean"},
		{"curves", dynamic.TLSOptions{CurvePreferences: []string{"CurveP521", "x25519", "secp256r1"}}, ""},
		{"bad curve", dynamic.TLSOptions{CurvePreferences: []string{"P-999"}}, "unknown curve"},
		{"verify without CA", dynamic.TLSOptions{ClientAuth: &dynamic.ClientAuth{ClientAuthType: "RequireAndVerifyClientCert"}}, "needs clientAuth.caFiles"},
		{"request any", dynamic.TLSOptions{ClientAuth: &dynamic.ClientAuth{ClientAuthType: "RequireAnyClientCert"}}, ""},
		{"bad auth type", dynamic.TLSOptions{ClientAuth: &dynamic.ClientAuth{ClientAuthType: "RequireAndVerifyClientCerts"}}, "did you mean"},
		{"alpn", dynamic.TLSOptions{ALPNProtocols: []string{"http/1.1"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, errs := compileOptions(m, "x", &c.in)
			if c.err == "" {
				if set.cfg == nil || len(errs) > 0 {
					t.Fatalf("got %v; want valid options", errs)
				}
				return
			}
			if set.cfg != nil || !strings.Contains(errs.Error(), c.err) {
				t.Fatalf("got cfg=%v errs=%v; want an error containing %q", set.cfg != nil, errs, c.err)
			}
		})
	}
}

func TestUnchangedOptionsKeepTheirConfig(t *testing.T) {
	m := newManager(t, Config{})
	opts := func(line int) map[string]*dynamic.TLSOptions {
		return map[string]*dynamic.TLSOptions{"o@file": {MinVersion: "VersionTLS13", Source: dynamic.Source{File: "d.yml", Line: line}}}
	}
	update(t, m, State{Options: opts(1)})
	first := m.state.Load().options["o@file"].cfg
	update(t, m, State{Options: opts(7)}) // moved in the file, same values
	if m.state.Load().options["o@file"].cfg != first {
		t.Fatal("unchanged options were recompiled; session tickets would stop resuming after every reload")
	}
}
