package middleware_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// cfgWith builds a configuration by hand: one router on web with the given middlewares to
// service "svc@file", whose servers are urls.
func cfgWith(rule string, middlewares []string, urls ...string) *dynamic.Configuration {
	cfg := dynamic.NewConfiguration()
	lb := &dynamic.LoadBalancer{}
	for _, u := range urls {
		lb.Servers = append(lb.Servers, dynamic.Server{URL: u})
	}
	cfg.HTTP.Services["svc@file"] = &dynamic.Service{LoadBalancer: lb}
	cfg.HTTP.Routers["r@file"] = &dynamic.Router{Rule: rule, Service: "svc@file", Middlewares: middlewares,
		EntryPoints: []string{"web"}, Source: dynamic.Source{File: "dyn.yml", Line: 1}}
	return cfg
}

// addMiddleware declares a middleware from label-style options.
func addMiddleware(t testing.TB, cfg *dynamic.Configuration, name, typ string, kv ...string) {
	t.Helper()
	var pairs []dynamic.Dotted
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, dynamic.Dotted{Key: kv[i], Value: kv[i+1], Src: dynamic.Source{File: "dyn.yml", Line: 10 + i}})
	}
	n, errs := dynamic.FromDotted(pairs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(kv) == 1 {
		n = &dynamic.Node{Kind: dynamic.Scalar, Value: kv[0]}
	}
	cfg.HTTP.Middlewares[name] = &dynamic.Middleware{Type: typ, Options: n, Source: dynamic.Source{File: "dyn.yml", Line: 9}}
}

func mustServe(t *testing.T, cfg *dynamic.Configuration) *stack {
	t.Helper()
	s := serveConfig(t, cfg, nil)
	if len(s.errs) > 0 {
		t.Fatalf("configuration errors: %v", s.errs)
	}
	return s
}

// A streamed response stays streamed when compressed: the client decodes the first part
// while the backend is still holding the rest.
func TestCompressStreamsThroughTheProxy(t *testing.T) {
	release := make(chan struct{})
	first := strings.Repeat("event: tick\ndata: first part of the stream\n\n", 50)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, first)
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: last\n\n")
	}))
	t.Cleanup(backend.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	cfg := cfgWith("PathPrefix(`/`)", []string{"gz@file"}, backend.URL)
	addMiddleware(t, cfg, "gz@file", "compress", "true")
	s := mustServe(t, cfg)
	res := s.do(t, false, "GET", "app.test", "/events", "Accept-Encoding", "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("encoding %q vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(first))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(zr, got); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(got) != first {
			t.Fatalf("first part: %v %q", err, got[:40])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first part did not arrive while the backend held the rest: the stream was buffered")
	}
	close(release)
	rest, err := io.ReadAll(zr)
	if err != nil || string(rest) != "data: last\n\n" {
		t.Errorf("rest: %v %q", err, rest)
	}
}

func TestRateLimitThroughTheProxy(t *testing.T) {
	backend := echoBackend(t)
	cfg := cfgWith("PathPrefix(`/`)", []string{"rl@file"}, backend.URL)
	addMiddleware(t, cfg, "rl@file", "rateLimit", "average", "1", "period", "1m", "burst", "2")
	s := mustServe(t, cfg)
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, s.do(t, false, "GET", "app.test", "/").StatusCode)
	}
	res := s.do(t, false, "GET", "app.test", "/")
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || res.StatusCode != 429 || ra < 1 {
		t.Errorf("codes %v then %d with Retry-After %q; want 200 200 429 429 and a wait", codes, res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestRetryWithAFailingBackend(t *testing.T) {
	var aliveHits atomic.Int32
	alive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aliveHits.Add(1)
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "alive "+r.Method+" "+string(b))
	}))
	t.Cleanup(alive.Close)
	// hangup reads the request and closes the connection without answering: the request
	// reached a backend, which may have acted on it.
	var hangupHits atomic.Int32
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hangupHits.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hangup.Close)

	t.Run("connection_refused_is_retried_for_any_method", func(t *testing.T) {
		cfg := cfgWith("PathPrefix(`/`)", []string{"retry@file"}, "http://"+deadAddr(t), alive.URL)
		addMiddleware(t, cfg, "retry@file", "retry", "attempts", "2", "initialInterval", "1ms")
		s := mustServe(t, cfg)
		for i := 0; i < 6; i++ {
			method := []string{"GET", "POST"}[i%2]
			res := s.do(t, false, method, "app.test", "/")
			if got := readAll(t, res); res.StatusCode != 200 || got != "alive "+method+" " {
				t.Fatalf("request %d (%s): got %d %q; want the live server's answer", i, method, res.StatusCode, got)
			}
		}
	})
	t.Run("sent_post_is_not_retried", func(t *testing.T) {
		cfg := cfgWith("PathPrefix(`/`)", []string{"retry@file"}, hangup.URL, alive.URL)
		addMiddleware(t, cfg, "retry@file", "retry", "attempts", "3")
		s := mustServe(t, cfg)
		before, beforeAlive := hangupHits.Load(), aliveHits.Load()
		res := postBody(t, s, "order=1")
		if res.StatusCode != http.StatusBadGateway || hangupHits.Load() != before+1 || aliveHits.Load() != beforeAlive {
			t.Errorf("got %d; hangup hit %d times, alive %d; want 502 after exactly one attempt",
				res.StatusCode, hangupHits.Load()-before, aliveHits.Load()-beforeAlive)
		}
	})
	t.Run("sent_get_is_retried", func(t *testing.T) {
		cfg := cfgWith("PathPrefix(`/`)", []string{"retry@file"}, hangup.URL, alive.URL)
		addMiddleware(t, cfg, "retry@file", "retry", "attempts", "3")
		s := mustServe(t, cfg)
		if res := s.do(t, false, "GET", "app.test", "/"); res.StatusCode != 200 {
			t.Errorf("got %d; want the second server's 200", res.StatusCode)
		}
	})
}

func postBody(t *testing.T, s *stack, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.web.URL+"/", strings.NewReader(body))
	req.Host = "app.test"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestErrorPagesThroughTheProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"db down"}`)
	}))
	t.Cleanup(backend.Close)
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<h1>Sorry ("+r.URL.Path+")</h1>")
	}))
	t.Cleanup(pages.Close)
	cfg := cfgWith("PathPrefix(`/`)", []string{"oops@file"}, backend.URL)
	cfg.HTTP.Services["pages@file"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: pages.URL}}}}
	addMiddleware(t, cfg, "oops@file", "errors", "status", "500-599", "service", "pages", "query", "/{status}.html")
	s := mustServe(t, cfg)
	res := s.do(t, false, "GET", "app.test", "/api")
	if got := readAll(t, res); res.StatusCode != 503 || got != "<h1>Sorry (/503.html)</h1>" || res.Header.Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), got)
	}
}
