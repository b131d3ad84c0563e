package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func newAll() *Registry {
	return New(Options{EntryPoints: true, Routers: true, Services: true})
}

func TestObserveExportsTraefikShapedSeries(t *testing.T) {
	r := newAll()
	r.EntryPoint("web").Observe(200, MethodGet, ProtocolHTTP, 150*time.Millisecond, 0, 5)
	r.Router("blog@docker", "blog@docker").Observe(404, MethodPost, ProtocolHTTP, time.Millisecond, 7, 10)
	r.Service("blog@docker").Observe(200, MethodGet, ProtocolWebSocket, time.Second, 0, 0)
	want := `
# HELP wharf_entrypoint_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_entrypoint_requests_total counter
wharf_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 1
# HELP wharf_router_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_router_requests_total counter
wharf_router_requests_total{code="404",method="POST",protocol="http",router="blog@docker",service="blog@docker"} 1
# HELP wharf_router_requests_bytes_total Request body bytes received.
# TYPE wharf_router_requests_bytes_total counter
wharf_router_requests_bytes_total{code="404",method="POST",protocol="http",router="blog@docker",service="blog@docker"} 7
# HELP wharf_entrypoint_responses_bytes_total Response body bytes sent.
# TYPE wharf_entrypoint_responses_bytes_total counter
wharf_entrypoint_responses_bytes_total{code="200",entrypoint="web",method="GET",protocol="http"} 5
# HELP wharf_service_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_service_requests_total counter
wharf_service_requests_total{code="200",method="GET",protocol="websocket",service="blog@docker"} 1
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want),
		"wharf_entrypoint_requests_total", "wharf_router_requests_total", "wharf_router_requests_bytes_total",
		"wharf_entrypoint_responses_bytes_total", "wharf_service_requests_total"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(r.Gatherer(), "wharf_entrypoint_request_duration_seconds")
	if err != nil || n != 1 {
		t.Errorf("duration histogram series = %d, %v; want 1", n, err)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	r := newAll()
	s := r.Router("r@file", "s@file")
	s.Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 10) // first sight of the combination
	if n := testing.AllocsPerRun(1000, func() { s.Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 3, 10) }); n != 0 {
		t.Errorf("allocs per Observe = %v; want 0", n)
	}
}

func TestNilScopesObserveNothing(t *testing.T) {
	r := New(Options{}) // no scope asked for
	if r.EntryPoint("web") != nil || r.Router("a", "b") != nil || r.Service("b") != nil {
		t.Fatal("scopes that are off must be nil")
	}
	var s *Scope
	s.Observe(200, MethodGet, ProtocolHTTP, time.Second, 1, 1) // must not panic
	var none *Registry
	none.ConfigApplied(time.Now(), nil)
	none.Retain(nil, nil)
}

func TestRetainForgetsRemovedRouters(t *testing.T) {
	r := newAll()
	r.Router("gone@file", "s@file").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	r.Router("kept@file", "s@file").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	r.Service("old@file").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	r.Retain(map[string]bool{"kept@file": true}, map[string]bool{"s@file": true})
	if n, _ := testutil.GatherAndCount(r.Gatherer(), "wharf_router_requests_total"); n != 1 {
		t.Errorf("router series after Retain = %d; want 1 (kept@file)", n)
	}
	if n, _ := testutil.GatherAndCount(r.Gatherer(), "wharf_service_requests_total"); n != 0 {
		t.Errorf("service series after Retain = %d; want 0", n)
	}
}

func TestRouterMovedToAnotherServiceStartsOver(t *testing.T) {
	r := newAll()
	r.Router("r@file", "a@file").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	r.Router("r@file", "b@file").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	want := `
# HELP wharf_router_requests_total How many HTTP requests were answered, by status code, method and protocol.
# TYPE wharf_router_requests_total counter
wharf_router_requests_total{code="200",method="GET",protocol="http",router="r@file",service="b@file"} 1
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "wharf_router_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestConfigAppliedCountsProblemsByProvider(t *testing.T) {
	r := New(Options{})
	at := time.Unix(1700000000, 0)
	r.ConfigApplied(at, dynamic.Errors{
		{Source: dynamic.Source{Provider: "docker", Container: "blog"}, Msg: "bad label"},
		{Source: dynamic.Source{Provider: "docker"}, Msg: "another"},
		{Source: dynamic.Source{Provider: "file"}, Msg: "warned", Warning: true},
	})
	r.ConfigApplied(at.Add(time.Minute), dynamic.Errors{{Source: dynamic.Source{Provider: "file"}, Msg: "warned", Warning: true}})
	want := `
# HELP wharf_config_errors Configuration errors in the configuration being served, by provider.
# TYPE wharf_config_errors gauge
wharf_config_errors{provider="docker"} 0
wharf_config_errors{provider="file"} 0
# HELP wharf_config_warnings Configuration warnings in the configuration being served, by provider.
# TYPE wharf_config_warnings gauge
wharf_config_warnings{provider="docker"} 0
wharf_config_warnings{provider="file"} 1
# HELP wharf_config_reloads_total How many configurations were applied.
# TYPE wharf_config_reloads_total counter
wharf_config_reloads_total 2
# HELP wharf_config_reloads_failure_total How many applied configurations had at least one error (the broken parts were left out).
# TYPE wharf_config_reloads_failure_total counter
wharf_config_reloads_failure_total 1
# HELP wharf_config_last_reload_success When a configuration without errors was last applied, as a Unix timestamp.
# TYPE wharf_config_last_reload_success gauge
wharf_config_last_reload_success 1.70000006e+09
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "wharf_config_errors", "wharf_config_warnings",
		"wharf_config_reloads_total", "wharf_config_reloads_failure_total", "wharf_config_last_reload_success"); err != nil {
		t.Error(err)
	}
}

type fakeDocker struct {
	up bool
	n  uint64
}

func (d *fakeDocker) Connected() bool    { return d.up }
func (d *fakeDocker) Reconnects() uint64 { return d.n }

func TestWatchersReadAtScrapeTime(t *testing.T) {
	r := New(Options{})
	d := &fakeDocker{}
	r.WatchDocker(d)
	servers := []ServerState{{Service: "s@file", URL: "http://a", Up: true}, {Service: "s@file", URL: "http://b"}}
	r.WatchServers(func() []ServerState { return servers })
	exp := time.Unix(1800000000, 0)
	r.WatchCertificates(func() []CertExpiry {
		return []CertExpiry{{Name: "a.test", NotAfter: exp.Add(-time.Hour)}, {Name: "a.test", NotAfter: exp}}
	})
	d.up, d.n = true, 3
	want := `
# HELP wharf_docker_connected 1 while the Docker provider follows the engine's event stream, 0 while it is reconnecting.
# TYPE wharf_docker_connected gauge
wharf_docker_connected 1
# HELP wharf_docker_reconnects_total How often the connection to the Docker engine was re-established after being lost.
# TYPE wharf_docker_reconnects_total counter
wharf_docker_reconnects_total 3
# HELP wharf_service_server_up 1 when a server of a service is up (or has no health check), 0 when its health check fails.
# TYPE wharf_service_server_up gauge
wharf_service_server_up{service="s@file",url="http://a"} 1
wharf_service_server_up{service="s@file",url="http://b"} 0
# HELP wharf_tls_certificate_not_after_seconds When the certificate served for a name expires, as a Unix timestamp (static certificates have resolver "").
# TYPE wharf_tls_certificate_not_after_seconds gauge
wharf_tls_certificate_not_after_seconds{name="a.test",resolver=""} 1.8e+09
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "wharf_docker_connected",
		"wharf_docker_reconnects_total", "wharf_service_server_up", "wharf_tls_certificate_not_after_seconds"); err != nil {
		t.Error(err)
	}
}

func TestConnsCountUpgradedConnectionsUntilTheHandlerReturns(t *testing.T) {
	r := New(Options{})
	c := r.Conns("web")
	c.ConnState(nil, http.StateNew)
	c.ConnState(nil, http.StateNew)
	c.ConnState(nil, http.StateHijacked) // a WebSocket: still open
	c.ConnState(nil, http.StateClosed)
	if v := testutil.ToFloat64(r.openConns.WithLabelValues("web", "TCP")); v != 1 {
		t.Fatalf("open connections = %v; want 1 (the upgraded one)", v)
	}
	c.UpgradeDone()
	if v := testutil.ToFloat64(r.openConns.WithLabelValues("web", "TCP")); v != 0 {
		t.Fatalf("open connections = %v; want 0", v)
	}
}

func TestMethodLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PROPFIND": "OTHER", "get": "OTHER", "DELETE": "DELETE"} {
		if got := MethodOf(in).String(); got != want {
			t.Errorf("MethodOf(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestProtocolOf(t *testing.T) {
	ws := httptest.NewRequest("GET", "/", nil)
	ws.Header.Set("Upgrade", "WebSocket")
	sse := httptest.NewRequest("GET", "/", nil)
	sse.Header.Set("Accept", "text/event-stream")
	plain := httptest.NewRequest("GET", "/", nil)
	for _, tc := range []struct {
		r    *http.Request
		want Protocol
	}{{ws, ProtocolWebSocket}, {sse, ProtocolSSE}, {plain, ProtocolHTTP}} {
		if got := ProtocolOf(tc.r); got != tc.want {
			t.Errorf("ProtocolOf(%v) = %v; want %v", tc.r.Header, got, tc.want)
		}
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	r := New(Options{EntryPoints: true})
	r.EntryPoint("web").Observe(200, MethodGet, ProtocolHTTP, time.Millisecond, 0, 0)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"wharf_entrypoint_requests_total{", "go_goroutines", "process_"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
