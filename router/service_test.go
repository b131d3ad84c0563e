package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

func ptr[T any](v T) *T { return &v }

func lbService(urls ...string) *dynamic.Service {
	lb := &dynamic.LoadBalancer{}
	for _, u := range urls {
		lb.Servers = append(lb.Servers, dynamic.Server{URL: u})
	}
	return &dynamic.Service{LoadBalancer: lb}
}

func TestServiceConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *dynamic.Service
		want string
	}{
		{"unknown_strategy", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Strategy: "random"}}, `strategy "random" is not one of wrr, p2c, leastconn, hrw`},
		{"hash_header_without_hrw", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{HashHeader: "X-User"}}, `hashHeader "X-User" only applies to strategy hrw, not wrr`},
		{"health_check_without_path", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{HealthCheck: &dynamic.HealthCheck{Interval: time.Second}}}, "healthCheck: path is required"},
		{"health_check_bad_mode", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{HealthCheck: &dynamic.HealthCheck{Path: "/h", Mode: "tcp"}}}, `mode "tcp" is not http or grpc`},
		{"bad_status", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{HealthCheck: &dynamic.HealthCheck{Path: "/h", Statuses: []string{"2xx"}}}}, `status "2xx" is not a code`},
		{"bad_passive_status", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{PassiveHealthCheck: &dynamic.PassiveHealthCheck{FailureStatus: []string{"700"}}}}, "passiveHealthCheck.failureStatus"},
		{"bad_same_site", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Sticky: &dynamic.Sticky{Cookie: &dynamic.Cookie{SameSite: "loose"}}}}, `sameSite "loose"`},
		{"negative_weight", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: "http://a", Weight: ptr(-1)}}}}, "servers[0]: weight -1 is negative"},
		{"two_kinds", &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{}, Failover: &dynamic.Failover{}}, "has more than one of"},
		{"empty", &dynamic.Service{}, "is empty"},
		{"weighted_missing_child", &dynamic.Service{Weighted: &dynamic.Weighted{Services: []dynamic.WeightedService{{Name: "nope@file"}}}}, `weighted.services[0] "nope@file": does not exist`},
		{"weighted_cycle", &dynamic.Service{Weighted: &dynamic.Weighted{Services: []dynamic.WeightedService{{Name: "s@file"}}}}, "refers to itself"},
		{"mirror_percent", &dynamic.Service{Mirroring: &dynamic.Mirroring{Service: "ok@file", Mirrors: []dynamic.Mirror{{Name: "ok@file", Percent: 101}}}}, "percent 101 is not between 0 and 100"},
		{"failover_needs_both", &dynamic.Service{Failover: &dynamic.Failover{Service: "ok@file"}}, "both service and fallback are required"},
		{"failover_bad_status", &dynamic.Service{Failover: &dynamic.Failover{Service: "ok@file", Fallback: "ok@file", Status: []string{"oops"}}}, "failover.status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newCfg().service("ok@file", "http://127.0.0.1:1").router("r@file", "Host(`x`)", "s@file").cfg
			cfg.HTTP.Services["s@file"] = tc.svc
			_, errs := compile(t, cfg)
			if !strings.Contains(errs.Error(), `service "s@file": `) || !strings.Contains(errs.Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one containing %q", errs, tc.want)
			}
		})
	}
}

// TestHealthSurvivesRecompile: with the process's health store, a new table sees the health
// its predecessor found, and a server that is down stays down.
func TestHealthSurvivesRecompile(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && failing.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "up")
	}))
	defer be.Close()
	cfg := newCfg().router("r@file", "Host(`app.test`)", "s@file").cfg
	cfg.HTTP.Services["s@file"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{
		Servers:     []dynamic.Server{{URL: be.URL}},
		HealthCheck: &dynamic.HealthCheck{Path: "/health", Interval: time.Hour, UnhealthyInterval: time.Hour},
	}}
	o := opts()
	o.Health = upstream.NewHealthStore()
	sw := NewSwitcher(2)
	t1, errs := Compile(cfg, nil, o)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	sw.Swap(t1)
	info := func() ServiceInfo { return sw.Load().Info().Services[0] }
	deadline := time.Now().Add(2 * time.Second)
	for info().Healthy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if info().Healthy() {
		t.Fatal("the server was never marked down")
	}
	t2, _ := Compile(cfg, nil, o)
	sw.Swap(t2)
	si := info()
	st := si.ServerStatus()
	if si.Healthy() || len(st) != 1 || st[0].Up || !strings.Contains(st[0].Reason, "status 503") || si.Type != "loadBalancer" {
		t.Errorf("after the reload: healthy=%v type=%q status=%+v; want still down with its reason", si.Healthy(), si.Type, st)
	}
	if code, _ := get(t, sw, 0, "app.test", "/"); code != 503 {
		t.Errorf("status %d; want 503 (no healthy server)", code)
	}
	sw.Swap(&Table{eps: make([]epRoutes, 2)})
	deadline = time.Now().Add(time.Second)
	for o.Health.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := o.Health.Len(); n != 0 {
		t.Errorf("%d servers remembered after every table using them was closed", n)
	}
}

func TestServicesOfServices(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	cfg := newCfg().service("a@file", a.URL).service("b@file", b.URL).
		router("w@file", "Host(`w.test`)", "w@file").
		router("f@file", "Host(`f.test`)", "f@file").
		router("m@file", "Host(`m.test`)", "m@file").cfg
	cfg.HTTP.Services["w@file"] = &dynamic.Service{Weighted: &dynamic.Weighted{Services: []dynamic.WeightedService{
		{Name: "a@file", Weight: ptr(3)}, {Name: "b@file", Weight: ptr(1)}}, HealthCheck: &dynamic.ServiceHealthCheck{}}}
	cfg.HTTP.Services["f@file"] = &dynamic.Service{Failover: &dynamic.Failover{Service: "down@file", Fallback: "b@file"}}
	cfg.HTTP.Services["down@file"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{
		Servers:            []dynamic.Server{{URL: "http://127.0.0.1:1"}},
		PassiveHealthCheck: &dynamic.PassiveHealthCheck{FailureWindow: time.Minute}}}
	cfg.HTTP.Services["m@file"] = &dynamic.Service{Mirroring: &dynamic.Mirroring{Service: "a@file", Mirrors: []dynamic.Mirror{{Name: "b@file", Percent: 10}}}}
	sw, errs := compile(t, cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	seen := map[string]int{}
	for i := 0; i < 400; i++ {
		_, body := get(t, sw, 0, "w.test", "/")
		seen[body]++
	}
	if seen["a /"] != 300 || seen["b /"] != 100 {
		t.Errorf("weighted split %v; want 300 a, 100 b", seen)
	}
	// The failover's main has one server, which refuses: the first request takes it out
	// (passive check), and from then on the fallback answers.
	get(t, sw, 0, "f.test", "/")
	for i := 0; i < 5; i++ {
		if code, body := get(t, sw, 0, "f.test", "/"); code != 200 || body != "b /" {
			t.Fatalf("failover: %d %q; want the fallback", code, body)
		}
	}
	if _, body := get(t, sw, 0, "m.test", "/"); body != "a /" {
		t.Errorf("mirroring answered %q; want the main service", body)
	}
	types := map[string]string{}
	for _, s := range sw.Load().Info().Services {
		types[s.Name] = s.Type
	}
	if types["w@file"] != "weighted" || types["f@file"] != "failover" || types["m@file"] != "mirroring" {
		t.Errorf("types %v", types)
	}
}
