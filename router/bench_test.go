package router

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
)

func hostTable(b testing.TB, n int) *Table {
	cfg := newCfg().service("s@file", "http://127.0.0.1:1").cfg
	for i := 0; i < n; i++ {
		cfg.HTTP.Routers[fmt.Sprintf("r%d@file", i)] = &dynamic.Router{
			Rule:    fmt.Sprintf("Host(`h%d.example.com`) && PathPrefix(`/`)", i),
			Service: "s@file",
		}
	}
	t, errs := Compile(cfg, nil, opts())
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return t
}

// BenchmarkLookup shows that the cost of finding a route does not grow with the number of
// host routers: the host index makes it a map read plus one rule match.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			t := hostTable(b, n)
			rq := &rule.Request{Host: fmt.Sprintf("h%d.example.com", n/2), Path: "/x", Method: "GET", Header: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if t.match(0, false, rq) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tab := hostTable(t, 1000)
	rq := &rule.Request{Host: "h500.example.com", Path: "/x", Method: "GET", Header: http.Header{}}
	if n := testing.AllocsPerRun(100, func() { tab.match(0, false, rq) }); n != 0 {
		t.Errorf("allocs per lookup = %v; want 0", n)
	}
}

// BenchmarkProxy is one proxied request through a compiled table to a real backend on
// loopback, in process: the whole request path minus the client's socket.
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer be.Close()
	cfg := newCfg().service("s@file", be.URL).router("r@file", "Host(`app.test`) && PathPrefix(`/`)", "s@file").cfg
	tab, errs := Compile(cfg, nil, opts())
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	sw := NewSwitcher(2)
	sw.Swap(tab)
	h := sw.Handler(0)
	req := httptest.NewRequest("GET", "http://app.test/hello", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := discardWriter{h: http.Header{}}
		h.ServeHTTP(&rec, req)
		if rec.code != 200 {
			b.Fatalf("status %d", rec.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
