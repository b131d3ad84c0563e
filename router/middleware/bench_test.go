package middleware

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// discard is a ResponseWriter that keeps nothing, so a benchmark measures the middlewares.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

var final = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = textPlain
	_, _ = io.WriteString(w, "hello")
})

var textPlain = []string{"text/plain"}

// fiveCommon is a chain that sits in front of most real applications: an IP allow list, a
// rate limit, basic auth, security and custom headers, and a stripped prefix.
func fiveCommon(b testing.TB) (http.Handler, string) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	mws := []Middleware{
		build(b, "ipAllowList", labels(b, "ipAllowList", "sourceRange", "10.0.0.0/8,192.168.0.0/16")),
		build(b, "rateLimit", labels(b, "rateLimit", "average", "1000000000", "burst", "1000000000")),
		build(b, "basicAuth", labels(b, "basicAuth", "users", "alice:"+string(hash), "headerField", "X-User")),
		build(b, "headers", labels(b, "headers", "stsSeconds", "31536000", "stsIncludeSubdomains", "true", "forceSTSHeader", "true",
			"frameDeny", "true", "contentTypeNosniff", "true", "referrerPolicy", "same-origin",
			"customResponseHeaders.Server", "", "customRequestHeaders.X-Script-Name", "app")),
		build(b, "stripPrefix", labels(b, "stripPrefix", "prefixes", "/api")),
	}
	var h http.Handler = final
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))
}

// request returns a function that serves one fresh-looking request through h, reusing
// everything so that only what the middlewares allocate is counted.
func request(h http.Handler, auth string) func() {
	r := httptest.NewRequest("GET", "http://app.test/api/users", nil)
	r.RemoteAddr = "10.1.2.3:40000"
	authValue := []string{auth}
	w := &discard{h: http.Header{}}
	return func() {
		r.URL.Path, r.RequestURI = "/api/users", "/api/users"
		r.Header["Authorization"] = authValue
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkChain compares a request through five common middlewares with the bare handler.
func BenchmarkChain(b *testing.B) {
	chain, auth := fiveCommon(b)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", final}, {"five_middlewares", chain}} {
		b.Run(bc.name, func(b *testing.B) {
			serve := request(bc.h, auth)
			serve() // the first bcrypt check is paid here, then remembered
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve()
			}
		})
	}
}

func TestFiveMiddlewareChainAddsNoAllocation(t *testing.T) {
	chain, auth := fiveCommon(t)
	bare, through := request(final, auth), request(chain, auth)
	through()
	b, c := testing.AllocsPerRun(200, bare), testing.AllocsPerRun(200, through)
	if c > b {
		t.Errorf("the chain allocates %v per request; the bare handler %v", c, b)
	}
	w := &discard{h: http.Header{}}
	r := httptest.NewRequest("GET", "http://app.test/api/users", nil)
	r.RemoteAddr = "10.1.2.3:40000"
	r.Header.Set("Authorization", auth)
	chain.ServeHTTP(w, r)
	if r.URL.Path != "/users" || w.h.Get("Strict-Transport-Security") == "" || w.h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("the chain did not run: path %q, headers %v", r.URL.Path, w.h)
	}
}

// BenchmarkCompress is a 4 KiB response compressed with each encoding.
func BenchmarkCompress(b *testing.B) {
	body := []byte(page[:4096])
	for _, enc := range []string{"gzip", "br", "zstd", "identity"} {
		b.Run(enc, func(b *testing.B) {
			h := build(b, "compress", labels(b, "compress", "true"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = textPlain
				_, _ = w.Write(body)
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", enc)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
