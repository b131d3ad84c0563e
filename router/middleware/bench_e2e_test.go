package middleware_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharfproxy/wharf/router"
)

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkProxyWithFiveMiddlewares is a whole proxied request (compiled table, forwarder,
// loopback backend) without and with five common middlewares in front of the service.
func BenchmarkProxyWithFiveMiddlewares(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }))
	defer be.Close()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))
	for _, bc := range []struct {
		name string
		mws  []string
	}{{"bare", nil}, {"five_middlewares", []string{"allow@file", "limit@file", "auth@file", "secure@file", "strip@file"}}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := cfgWith("PathPrefix(`/`)", bc.mws, be.URL)
			addMiddleware(b, cfg, "allow@file", "ipAllowList", "sourceRange", "127.0.0.0/8,10.0.0.0/8")
			addMiddleware(b, cfg, "limit@file", "rateLimit", "average", "1000000000", "burst", "1000000000")
			addMiddleware(b, cfg, "auth@file", "basicAuth", "users", "alice:"+string(hash))
			addMiddleware(b, cfg, "secure@file", "headers", "stsSeconds", "31536000", "forceSTSHeader", "true", "frameDeny", "true",
				"contentTypeNosniff", "true", "customResponseHeaders.Server", "")
			addMiddleware(b, cfg, "strip@file", "stripPrefix", "prefixes", "/api")
			tab, errs := router.Compile(cfg, nil, router.Options{EntryPoints: []router.EntryPoint{{Name: "web"}}, Log: zerolog.Nop()})
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			defer tab.Close()
			sw := router.NewSwitcher(1)
			sw.Swap(tab)
			h := sw.Handler(0)
			req := httptest.NewRequest("GET", "http://app.test/api/hello", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			authValue := []string{auth}
			w := &discardWriter{h: http.Header{}}
			run := func() {
				req.URL.Path, req.RequestURI = "/api/hello", "/api/hello"
				req.Header["Authorization"] = authValue
				clear(w.h)
				h.ServeHTTP(w, req)
				if w.code != 200 && w.code != 0 {
					b.Fatalf("status %d", w.code)
				}
			}
			run()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
		})
	}
}
