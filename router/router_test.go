package router

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// backend answers with its name and the path it received.
func backend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s
}

func opts() Options {
	return Options{EntryPoints: []EntryPoint{{Name: "web"}, {Name: "admin"}}, Log: zerolog.Nop()}
}

type cfgBuilder struct{ cfg *dynamic.Configuration }

func newCfg() *cfgBuilder { return &cfgBuilder{cfg: dynamic.NewConfiguration()} }

func (b *cfgBuilder) router(name, rule, service string, mutate ...func(*dynamic.Router)) *cfgBuilder {
	r := &dynamic.Router{Rule: rule, Service: service, Source: dynamic.Source{File: "dyn.yml", Line: 3, Col: 5}}
	for _, m := range mutate {
		m(r)
	}
	b.cfg.HTTP.Routers[name] = r
	return b
}

func (b *cfgBuilder) service(name string, urls ...string) *cfgBuilder {
	lb := &dynamic.LoadBalancer{}
	for _, u := range urls {
		lb.Servers = append(lb.Servers, dynamic.Server{URL: u})
	}
	b.cfg.HTTP.Services[name] = &dynamic.Service{LoadBalancer: lb}
	return b
}

// serve runs the table of cfg on entrypoint 0 and returns the response body and status.
func get(t *testing.T, sw *Switcher, ep int, host, target string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	sw.Handler(ep).ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func compile(t *testing.T, cfg *dynamic.Configuration) (*Switcher, dynamic.Errors) {
	t.Helper()
	tab, errs := Compile(cfg, nil, opts())
	sw := NewSwitcher(2)
	sw.Swap(tab)
	return sw, errs
}

func TestRouting(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	cfg := newCfg().
		service("a@file", a.URL).service("b@file", b.URL).service("c@file", c.URL).
		router("host@file", "Host(`app.example.com`)", "a@file").
		router("api@file", "Host(`app.example.com`) && PathPrefix(`/api`)", "b@file").
		router("wild@file", "Host(`*.example.com`)", "c@file").
		router("low@file", "PathPrefix(`/`)", "c@file", func(r *dynamic.Router) { r.Priority = 1; r.EntryPoints = []string{"web"} }).
		router("adminonly@file", "Host(`admin.example.com`)", "b@file", func(r *dynamic.Router) { r.EntryPoints = []string{"admin"} }).
		cfg
	sw, errs := compile(t, cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		name, host, path string
		ep               int
		want             string
	}{
		{"exact_host", "app.example.com", "/x", 0, "a /x"},
		{"longer_rule_wins", "app.example.com", "/api/users", 0, "b /api/users"},
		{"host_case_port_and_dot_ignored", "APP.Example.com.:8080", "/", 0, "a /"},
		{"wildcard_one_label", "blog.example.com", "/", 0, "c /"},
		{"wildcard_not_two_labels_falls_to_catch_all", "a.b.example.com", "/", 0, "c /"},
		{"catch_all", "other.org", "/z", 0, "c /z"},
		{"entrypoint_scoped", "admin.example.com", "/", 1, "b /"},
		{"normalized_path_routed_and_forwarded", "app.example.com", "/x/../api/%2e%2e/api/v1", 0, "b /api/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, sw, tc.ep, tc.host, tc.path)
			if code != 200 || body != tc.want {
				t.Errorf("got %d %q; want 200 %q", code, body, tc.want)
			}
		})
	}
	t.Run("no_route_is_404", func(t *testing.T) {
		if code, _ := get(t, sw, 1, "nothing.other.org", "/"); code != 404 {
			t.Errorf("got %d; want 404", code)
		}
	})
	t.Run("encoded_slash_is_400", func(t *testing.T) {
		if code, _ := get(t, sw, 0, "app.example.com", "/api%2F..%2Fadmin"); code != 400 {
			t.Errorf("got %d; want 400", code)
		}
	})
}

func TestBrokenRoutersAreLeftOutAndNamed(t *testing.T) {
	a := backend(t, "a")
	cfg := newCfg().service("a@file", a.URL).service("bad@file", "ftp://x").
		router("ok@file", "Host(`ok.test`)", "a@file").
		router("typo@file", "Host(`t.test`)", "aa@file").
		router("badrule@file", "Host(`x.test`) &&", "a@file").
		router("badsvc@file", "Host(`y.test`)", "bad@file").
		router("nomw@file", "Host(`z.test`)", "a@file", func(r *dynamic.Router) { r.Middlewares = []string{"auth@file"} }).
		cfg
	cfg.HTTP.Middlewares["strip@file"] = &dynamic.Middleware{Type: "stripprefx", Source: dynamic.Source{File: "dyn.yml", Line: 20, Col: 7}}
	sw, errs := compile(t, cfg)
	all := errs.Error()
	for _, want := range []string{
		`dyn.yml:3:5: router "typo@file": service "aa@file": does not exist (did you mean "a@file"?)`,
		`router "badrule@file": rule "Host(` + "`x.test`" + `) &&": offset`,
		`router "badsvc@file": service "bad@file": servers[0]: url "ftp://x": scheme "ftp" is not http, https or h2c`,
		`router "nomw@file": middleware "auth@file": does not exist`,
		`dyn.yml:20:7: middleware "strip@file": unknown middleware type "stripprefx" (did you mean "stripPrefix"?)`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors do not contain\n  %s\ngot:\n%s", want, all)
		}
	}
	if code, body := get(t, sw, 0, "ok.test", "/"); code != 200 || body != "a /" {
		t.Errorf("healthy router: got %d %q", code, body)
	}
	for _, h := range []string{"t.test", "x.test", "y.test", "z.test"} {
		if code, _ := get(t, sw, 0, h, "/"); code != 404 {
			t.Errorf("%s: got %d; want 404 (router disabled)", h, code)
		}
	}
}

func TestPriorityTiesAreDeterministic(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	for i := 0; i < 20; i++ {
		cfg := newCfg().service("a@file", a.URL).service("b@file", b.URL).
			router("zeta@file", "PathPrefix(`/x`)", "b@file").
			router("alpha@file", "PathPrefix(`/y`)", "a@file", func(r *dynamic.Router) { r.Rule = "PathPrefix(`/`)"; r.Priority = len("PathPrefix(`/x`)") }).cfg
		sw, _ := compile(t, cfg)
		if _, body := get(t, sw, 0, "h", "/x"); body != "a /x" {
			t.Fatalf("run %d: got %q; want alpha (name order breaks the tie)", i, body)
		}
	}
}

func TestMiddlewareChain(t *testing.T) {
	a := backend(t, "a")
	cfg := newCfg().service("a@file", a.URL).
		router("r@file", "PathPrefix(`/api`)", "a@file", func(r *dynamic.Router) { r.Middlewares = []string{"strip@file", "add@file"} }).cfg
	n, _ := dynamic.FromDotted([]dynamic.Dotted{{Key: "prefixes", Value: "/api"}})
	cfg.HTTP.Middlewares["strip@file"] = &dynamic.Middleware{Type: "stripPrefix", Options: n}
	n2, _ := dynamic.FromDotted([]dynamic.Dotted{{Key: "prefix", Value: "/v2"}})
	cfg.HTTP.Middlewares["add@file"] = &dynamic.Middleware{Type: "addprefix", Options: n2}
	sw, errs := compile(t, cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, body := get(t, sw, 0, "h", "/api/users?q=1"); body != "a /v2/users?q=1" {
		t.Errorf("got %q; want strip then add", body)
	}
}
