package dynamic

import (
	"strings"
	"testing"
	"time"
)

func labels(kv ...string) []Dotted {
	var out []Dotted
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Dotted{Key: kv[i], Value: kv[i+1], Src: Source{Container: "blog-web-1", ContainerID: "3f2a1b9c0d1e99aa", Label: "wharf." + kv[i]}})
	}
	return out
}

func decodeLabels(t *testing.T, kv ...string) (*Configuration, Errors) {
	t.Helper()
	n, errs := FromDotted(labels(kv...))
	if len(errs) > 0 {
		return nil, errs
	}
	cfg := &Configuration{}
	return cfg, Decode(n, cfg)
}

func TestDecode(t *testing.T) {
	t.Run("router_from_labels_case_insensitive", func(t *testing.T) {
		cfg, errs := decodeLabels(t,
			"http.routers.blog.rule", "Host(`blog.example.com`)",
			"HTTP.Routers.blog.EntryPoints", "web, websecure",
			"http.routers.blog.priority", "42",
			"http.routers.blog.tls", "true",
			"http.routers.blog.tls.domains[1].main", "b.example.com",
			"http.routers.blog.tls.domains[0].main", "a.example.com",
			"http.routers.blog.tls.domains[0].sans", "x.example.com,y.example.com",
		)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		r := cfg.HTTP.Routers["blog"]
		if r == nil {
			t.Fatalf("no router blog in %+v", cfg.HTTP.Routers)
		}
		if got, want := strings.Join(r.EntryPoints, "|"), "web|websecure"; got != want {
			t.Errorf("entryPoints = %q; want %q", got, want)
		}
		if r.Priority != 42 || r.TLS == nil || len(r.TLS.Domains) != 2 || r.TLS.Domains[1].Main != "b.example.com" || len(r.TLS.Domains[0].SANs) != 2 {
			t.Errorf("router = %+v tls=%+v", r, r.TLS)
		}
		if r.Source.Container != "blog-web-1" {
			t.Errorf("source = %+v", r.Source)
		}
	})
	t.Run("bad_integer_names_container_label_and_value", func(t *testing.T) {
		_, errs := decodeLabels(t, "http.routers.blog.priority", "high")
		want := `container "blog-web-1" (3f2a1b9c0d1e): label "wharf.http.routers.blog.priority" = "high": not an integer`
		if len(errs) != 1 || errs[0].Error() != want {
			t.Fatalf("errs = %v; want %s", errs, want)
		}
	})
	t.Run("unknown_key_suggests", func(t *testing.T) {
		_, errs := decodeLabels(t, "http.routers.blog.rulee", "Host(`a`)")
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), `unknown key "rulee" (did you mean "rule"?)`) {
			t.Fatalf("errs = %v", errs)
		}
	})
	t.Run("middleware_type_and_options", func(t *testing.T) {
		cfg, errs := decodeLabels(t, "http.middlewares.strip.stripPrefix.prefixes", "/api,/v1")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		m := cfg.HTTP.Middlewares["strip"]
		if m.Type != "stripPrefix" || m.Options.Get("PREFIXES").Value != "/api,/v1" {
			t.Fatalf("middleware = %+v", m)
		}
	})
	t.Run("two_middleware_types_is_an_error", func(t *testing.T) {
		_, errs := decodeLabels(t, "http.middlewares.m.stripPrefix.prefixes", "/a", "http.middlewares.m.compress", "true")
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "exactly one type") {
			t.Fatalf("errs = %v", errs)
		}
	})
	t.Run("sticky_cookie_true_and_name", func(t *testing.T) {
		cfg, errs := decodeLabels(t,
			"http.services.s.loadbalancer.sticky.cookie", "true",
			"http.services.s.loadbalancer.sticky.cookie.name", "sid",
			"http.services.s.loadbalancer.healthcheck.interval", "5",
			"http.services.s.loadbalancer.healthcheck.timeout", "1500ms",
			"http.services.s.loadbalancer.passhostheader", "false",
		)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		lb := cfg.HTTP.Services["s"].LoadBalancer
		if lb.Sticky.Cookie == nil || lb.Sticky.Cookie.Name != "sid" || lb.HealthCheck.Interval != 5*time.Second || lb.HealthCheck.Timeout != 1500*time.Millisecond || lb.PassesHostHeader() {
			t.Fatalf("lb = %+v", lb)
		}
	})
	t.Run("list_gap_is_an_error", func(t *testing.T) {
		_, errs := FromDotted(labels("http.routers.r.tls.domains[1].main", "a"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "gap") {
			t.Fatalf("errs = %v", errs)
		}
	})
	t.Run("same_key_twice_with_other_case", func(t *testing.T) {
		_, errs := FromDotted(labels("http.routers.r.rule", "Host(`a`)", "http.routers.R.rule", "Host(`b`)"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "set twice") {
			t.Fatalf("errs = %v", errs)
		}
	})
	t.Run("keeps_good_fields_when_one_is_bad", func(t *testing.T) {
		cfg, errs := decodeLabels(t, "http.routers.a.rule", "Host(`a`)", "http.routers.b.priority", "x")
		if len(errs) != 1 || cfg.HTTP.Routers["a"].Rule != "Host(`a`)" {
			t.Fatalf("errs = %v cfg=%+v", errs, cfg.HTTP.Routers)
		}
		if errs[0].Path != "http.routers.b.priority" {
			t.Errorf("path = %q", errs[0].Path)
		}
	})
}

func TestSourceString(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{File: "dynamic.yml", Line: 14, Col: 7}, "dynamic.yml:14:7"},
		{Source{Container: "c", Label: "wharf.enable"}, `container "c": label "wharf.enable"`},
		{Source{Label: "WHARF_LOG_LEVEL"}, "WHARF_LOG_LEVEL"},
		{Source{Label: "--log.level"}, "--log.level"},
		{Source{Provider: "file"}, `provider "file"`},
	} {
		if got := tc.src.String(); got != tc.want {
			t.Errorf("got %q; want %q", got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	if got := Suggest("stripprefx", []string{"stripPrefix", "addPrefix"}); got != "stripPrefix" {
		t.Errorf("got %q", got)
	}
	if got := Suggest("zzzzzz", []string{"stripPrefix"}); got != "" {
		t.Errorf("got %q", got)
	}
}

func TestSuggestCountsASwapAsOneEdit(t *testing.T) {
	if got := Suggest("Hots", []string{"Host", "Path"}); got != "Host" {
		t.Errorf("got %q; want Host", got)
	}
	if got := Suggest("servce", []string{"service", "rule"}); got != "service" {
		t.Errorf("got %q; want service", got)
	}
}
