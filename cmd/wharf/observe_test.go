package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/accesslog"
	"github.com/wharfproxy/wharf/internal/metrics"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// lockedBuffer collects access log lines written from request goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testObserver(t testing.TB, out io.Writer) *observer {
	t.Helper()
	o := &observer{log: zerolog.Nop(), conns: map[string]*metrics.Conns{}, stopSignals: func() {},
		metrics: metrics.New(metrics.Options{EntryPoints: true, Routers: true, Services: true})}
	if out != nil {
		l, err := accesslog.New(accesslog.Config{Output: out})
		if err != nil {
			t.Fatal(err)
		}
		o.access = l
	}
	return o
}

// observedProxy compiles one route to backend and serves it through o, as wharf run does.
func observedProxy(t testing.TB, o *observer, backend string) http.Handler {
	t.Helper()
	cfg := dynamic.NewConfiguration()
	cfg.HTTP.Services["s@file"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: backend}}}}
	cfg.HTTP.Routers["r@file"] = &dynamic.Router{Rule: "Host(`app.test`)", Service: "s@file"}
	opts := router.Options{EntryPoints: []router.EntryPoint{{Name: "web"}}, Log: zerolog.Nop()}
	if o != nil && o.perRequest() {
		opts.WrapRoute = o.wrapRoute
	}
	tab, errs := router.Compile(cfg, nil, opts)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	sw := router.NewSwitcher(1)
	sw.Swap(tab)
	if o == nil {
		return sw.Handler(0)
	}
	return o.entryPoint("web", sw.Handler(0))
}

func helloBackend(t testing.TB) *httptest.Server {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(be.Close)
	return be
}

func TestObservedRequestIsMeasuredAndLogged(t *testing.T) {
	var logBuf lockedBuffer
	o := testObserver(t, &logBuf)
	front := httptest.NewServer(observedProxy(t, o, helloBackend(t).URL))
	defer front.Close()
	req, _ := http.NewRequest("POST", front.URL+"/x?token=abc", strings.NewReader("0123456789"))
	req.Host = "app.test"
	req.Header.Set("Authorization", "Bearer abc")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(res.Body)
	res.Body.Close()
	req, _ = http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "nothing.test"
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	want := `
# HELP wharf_router_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_router_requests_total counter
wharf_router_requests_total{code="200",method="POST",protocol="http",router="r@file",service="s@file"} 1
# HELP wharf_router_requests_bytes_total Request body bytes received.
# TYPE wharf_router_requests_bytes_total counter
wharf_router_requests_bytes_total{code="200",method="POST",protocol="http",router="r@file",service="s@file"} 10
# HELP wharf_service_responses_bytes_total Response body bytes sent.
# TYPE wharf_service_responses_bytes_total counter
wharf_service_responses_bytes_total{code="200",method="POST",protocol="http",service="s@file"} 5
# HELP wharf_entrypoint_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_entrypoint_requests_total counter
wharf_entrypoint_requests_total{code="200",entrypoint="web",method="POST",protocol="http"} 1
wharf_entrypoint_requests_total{code="404",entrypoint="web",method="GET",protocol="http"} 1
`
	if err := testutil.GatherAndCompare(o.metrics.Gatherer(), strings.NewReader(want), "wharf_router_requests_total",
		"wharf_router_requests_bytes_total", "wharf_service_responses_bytes_total", "wharf_entrypoint_requests_total"); err != nil {
		t.Error(err)
	}
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log has %d lines; want 2:\n%s", len(lines), logBuf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"RouterName": "r@file", "ServiceName": "s@file", "DownstreamStatus": 200.0,
		"DownstreamContentSize": 5.0, "RequestContentSize": 10.0, "RequestHost": "app.test", "RequestPath": "/x?token=REDACTED",
		"entryPointName": "web"} {
		if first[k] != v {
			t.Errorf("%s = %#v; want %#v", k, first[k], v)
		}
	}
	if strings.Contains(logBuf.String(), "abc") {
		t.Errorf("a credential reached the access log: %s", logBuf.String())
	}
}

func TestRecorderSeesUpgradesAndUpstream(t *testing.T) {
	o := testObserver(t, nil)
	h := o.wrapRoute(router.RouteMeta{Router: "ws@file", Service: "ws@file"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the forwarder does: note the server, then hijack for the upgrade.
		w.(interface{ NoteUpstream(string) }).NoteUpstream("10.0.0.5:80")
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		_ = c.Close()
	}))
	front := httptest.NewUnstartedServer(nil)
	o.conns["web"] = o.metrics.Conns("web")
	front.Config.ConnState = o.conns["web"].ConnState
	upstream := make(chan string, 1)
	done := make(chan struct{})
	ep := o.entryPoint("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		upstream <- findRecorder(w).upstream
	}))
	front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done) // after the observer has recorded the request
		ep.ServeHTTP(w, r)
	})
	front.Start()
	defer front.Close()
	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-done
	if up := <-upstream; res.StatusCode != 101 || up != "10.0.0.5:80" {
		t.Fatalf("status %d, upstream %q", res.StatusCode, up)
	}
	want := `
# HELP wharf_router_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_router_requests_total counter
wharf_router_requests_total{code="101",method="GET",protocol="websocket",router="ws@file",service="ws@file"} 1
# HELP wharf_open_connections Client connections open on each entrypoint.
# TYPE wharf_open_connections gauge
wharf_open_connections{entrypoint="web",protocol="TCP"} 0
`
	if err := testutil.GatherAndCompare(o.metrics.Gatherer(), strings.NewReader(want), "wharf_router_requests_total", "wharf_open_connections"); err != nil {
		t.Error(err)
	}
}

func TestMetricsOnTheirEntryPoint(t *testing.T) {
	o := testObserver(t, nil)
	o.metricsEP = "web"
	h := o.entryPoint("web", http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "wharf_config_reloads_total") {
		t.Errorf("GET /metrics on the metrics entrypoint: %d", rec.Code)
	}
	other := o.entryPoint("other", http.NotFoundHandler())
	rec = httptest.NewRecorder()
	other.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("GET /metrics elsewhere: %d; want it routed like any path", rec.Code)
	}
}

func TestNothingObservedCostsNothing(t *testing.T) {
	o := &observer{conns: map[string]*metrics.Conns{}}
	next := http.NotFoundHandler()
	if h := o.entryPoint("web", next); h == nil || o.perRequest() {
		t.Fatal("an observer with nothing on must not observe requests")
	}
}

// BenchmarkProxyObserved is router.BenchmarkProxy (one proxied request to a loopback backend,
// in process) without and with observation, to show what metrics and the access log cost.
func BenchmarkProxyObserved(b *testing.B) {
	be := helloBackend(b)
	for _, tc := range []struct {
		name string
		obs  func() *observer
	}{
		{"plain", func() *observer { return nil }},
		{"metrics", func() *observer { return testObserver(b, nil) }},
		{"metrics+accesslog", func() *observer { return testObserver(b, io.Discard) }},
		{"accesslog", func() *observer {
			o := testObserver(b, io.Discard)
			o.metrics = nil
			return o
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := observedProxy(b, tc.obs(), be.URL)
			req := httptest.NewRequest("GET", "http://app.test/hello", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("User-Agent", "bench")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := discardWriter{h: http.Header{}}
				h.ServeHTTP(&rec, req)
				if rec.code != 200 {
					b.Fatalf("status %d", rec.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkObserveOverhead measures the observation alone: an entrypoint and a route whose
// handler answers at once, so nothing but the recorder, the metrics and the log line is timed.
func BenchmarkObserveOverhead(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) })
	for _, tc := range []struct {
		name string
		obs  func() *observer
	}{
		{"none", func() *observer { return &observer{conns: map[string]*metrics.Conns{}} }},
		{"metrics", func() *observer { return testObserver(b, nil) }},
		{"metrics+accesslog", func() *observer { return testObserver(b, io.Discard) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := tc.obs()
			route := http.Handler(hello)
			if o.perRequest() {
				route = o.wrapRoute(router.RouteMeta{Router: "r@file", Service: "s@file"}, hello)
			}
			h := o.entryPoint("web", route)
			req := httptest.NewRequest("GET", "http://app.test/hello?page=1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("User-Agent", "bench")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := discardWriter{h: http.Header{}}
				h.ServeHTTP(&rec, req)
			}
		})
	}
}

// unwrapper is a middleware's ResponseWriter: the hooks must find the recorder through it.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestRetriesReachTheAccessLogThroughMiddlewareWriters(t *testing.T) {
	var logBuf lockedBuffer
	o := testObserver(t, nil)
	l, err := accesslog.New(accesslog.Config{Output: &logBuf, RetryAttempts: true})
	if err != nil {
		t.Fatal(err)
	}
	o.access = l
	retried := true
	route := o.wrapRoute(router.RouteMeta{Router: "r@file", Service: "s@file"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw := unwrapper{w} // what the retry middleware hands down
		for i := 0; retried && i < 2; i++ {
			mw.Unwrap().(interface{ NoteRetry() }).NoteRetry()
		}
		findRecorder(unwrapper{mw}).NoteUpstream("10.0.0.5:80")
		_, _ = mw.Write([]byte("ok"))
	}))
	h := o.entryPoint("web", route)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	retried = false
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) // filtered out: not retried
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"RetryAttempts":2`) || !strings.Contains(lines[0], `"ServiceAddr":"10.0.0.5:80"`) {
		t.Errorf("access log with the retryAttempts filter:\n%s", logBuf.String())
	}
}

func TestRouterCanOptOutOfTheAccessLog(t *testing.T) {
	var logBuf lockedBuffer
	o := testObserver(t, nil)
	l, err := accesslog.New(accesslog.Config{Output: &logBuf})
	if err != nil {
		t.Fatal(err)
	}
	o.access = l
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	quiet := o.entryPoint("web", o.wrapRoute(router.RouteMeta{Router: "health@file", Service: "s@file", NoAccessLog: true}, ok))
	loud := o.entryPoint("web", o.wrapRoute(router.RouteMeta{Router: "app@file", Service: "s@file"}, ok))
	quiet.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	loud.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/app", nil))
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "app@file") {
		t.Errorf("want exactly the app router's line, got:\n%s", logBuf.String())
	}
}
