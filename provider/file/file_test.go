package file

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router/dynamic"
)

func newProvider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// errorStrings renders a message's errors, warnings marked, for comparing in tests.
func errorStrings(m provider.Message) []string {
	var out []string
	for _, e := range m.Errors {
		s := e.Error()
		if e.Warning {
			s = "warning: " + s
		}
		out = append(out, s)
	}
	return out
}

func routerNames(m provider.Message) string {
	if m.Config == nil || m.Config.HTTP == nil {
		return ""
	}
	return strings.Join(sortedKeys(m.Config.HTTP.Routers), ",")
}

func TestNew(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // error; "" for none
	}{
		{"filename", Config{Filename: "dynamic.yml"}, ""},
		{"directory", Config{Directory: "conf.d"}, ""},
		{"neither", Config{}, "set either filename or directory"},
		{"both", Config{Filename: "a.yml", Directory: "d"}, "set filename or directory, not both"},
		{"unsupported_extension", Config{Filename: "a.json"}, "filename a.json: unsupported file type: use .yml, .yaml or .toml"},
		{"negative_debounce", Config{Filename: "a.yml", Debounce: -1}, "debounce must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(c.cfg, zerolog.Nop())
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Name() != "file" || p.cfg.Debounce != DefaultDebounce || !p.watching() {
					t.Errorf("provider = %+v; want name file, default debounce, watching", p.cfg)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Fatalf("err = %v; want %s", err, c.want)
			}
		})
	}
}

func TestLoadTraefikFile(t *testing.T) {
	yml := newProvider(t, Config{Filename: "testdata/traefik.yml"}).Load()
	toml := newProvider(t, Config{Filename: "testdata/traefik.toml"}).Load()
	for _, m := range []provider.Message{yml, toml} {
		if len(m.Errors) > 0 {
			t.Fatalf("errors: %v", m.Errors)
		}
		if m.Provider != "file" {
			t.Errorf("provider = %q", m.Provider)
		}
	}
	t.Run("yaml_and_toml_decode_to_the_same_configuration", func(t *testing.T) {
		if !dynamic.SameDefinition(yml.Config, toml.Config) {
			a, _ := json.MarshalIndent(yml.Config, "", " ")
			b, _ := json.MarshalIndent(toml.Config, "", " ")
			t.Errorf("YAML and TOML differ:\nYAML: %s\nTOML: %s", a, b)
		}
	})
	for name, m := range map[string]provider.Message{"yaml": yml, "toml": toml} {
		t.Run(name+"_fields", func(t *testing.T) { checkTraefikConfig(t, m.Config) })
	}
	t.Run("sources_name_the_file_as_given", func(t *testing.T) {
		r := yml.Config.HTTP.Routers["blog"]
		want := dynamic.Source{Provider: "file", File: "testdata/traefik.yml", Line: 4, Col: 5}
		if r.Source != want {
			t.Errorf("source = %+v; want %+v", r.Source, want)
		}
		if s := toml.Config.HTTP.Routers["blog"].Source; s.String() != "testdata/traefik.toml:2:15" || s.Provider != "file" {
			t.Errorf("toml source = %+v", s)
		}
	})
}

func checkTraefikConfig(t *testing.T, cfg *dynamic.Configuration) {
	t.Helper()
	blog := cfg.HTTP.Routers["blog"]
	if blog == nil || blog.Rule != "Host(`blog.example.com`) && PathPrefix(`/`)" || blog.Priority != 10 || blog.Service != "blog" {
		t.Fatalf("router blog = %+v", blog)
	}
	if got := strings.Join(blog.EntryPoints, ",") + "|" + strings.Join(blog.Middlewares, ","); got != "websecure|strip,auth,secure-headers" {
		t.Errorf("entryPoints|middlewares = %s", got)
	}
	if tls := blog.TLS; tls == nil || tls.CertResolver != "le" || tls.Options != "modern" || len(tls.Domains) != 1 || tls.Domains[0].SANs[0] != "*.example.com" {
		t.Errorf("tls = %+v", blog.TLS)
	}
	lb := cfg.HTTP.Services["blog"].LoadBalancer
	if lb.PassesHostHeader() || len(lb.Servers) != 2 || lb.Servers[1].URL != "http://10.0.0.2:8080" || *lb.Servers[0].Weight != 3 {
		t.Errorf("load balancer = %+v", lb)
	}
	if hc := lb.HealthCheck; hc == nil || hc.Path != "/health" || hc.Interval.String() != "10s" {
		t.Errorf("health check = %+v", lb.HealthCheck)
	}
	types := map[string]string{}
	for name, m := range cfg.HTTP.Middlewares {
		types[name] = m.Type
	}
	want := map[string]string{"strip": "stripPrefix", "auth": "basicAuth", "secure-headers": "headers", "https": "redirectScheme", "limit": "rateLimit"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("middleware types = %v; want %v", types, want)
	}
	if got := cfg.HTTP.Middlewares["limit"].Options.Get("burst"); got == nil || got.Value != "50" {
		t.Errorf("rateLimit.burst = %+v", got)
	}
	if c := cfg.TLS.Certificates; len(c) != 2 || c[1].KeyFile != "/certs/other.key" || c[1].Stores[0] != "default" {
		t.Errorf("certificates = %+v", c)
	}
	if o := cfg.TLS.Options["modern"]; o == nil || o.MinVersion != "VersionTLS13" {
		t.Errorf("tls options = %+v", o)
	}
}

// Every error of a file that parses is reported with file:line:col, and only the object
// it points into is left out.
func TestLoadReportsAndDropsBrokenObjects(t *testing.T) {
	const good = "    ok:\n      rule: Host(`ok`)\n      service: s\n"
	cases := []struct {
		name, file, content string
		want                []string // error strings
		routers             string   // routers kept
	}{
		{"unknown_key_suggests_and_names_position", "dynamic.yml",
			"http:\n  routers:\n    blog:\n      rulee: Host(`a`)\n" + good,
			[]string{`dynamic.yml:4:7: http.routers.blog.rulee: unknown key "rulee" (did you mean "rule"?)`}, "ok"},
		{"bad_integer_names_value", "dynamic.yml",
			"http:\n  routers:\n    blog:\n      rule: Host(`a`)\n      priority: high\n" + good,
			[]string{`dynamic.yml:5:7: http.routers.blog.priority = "high": not an integer`}, "ok"},
		{"toml_unknown_key", "dynamic.toml",
			"[http.routers.blog]\nrule = \"Host(`a`)\"\nservise = \"s\"\n[http.routers.ok]\nrule = \"x\"\n",
			[]string{`dynamic.toml:3:1: http.routers.blog.servise: unknown key "servise" (did you mean "service"?)`}, "ok"},
		{"unknown_section_drops_nothing", "dynamic.yml",
			"htp:\n  x: 1\nhttp:\n  routers:\n" + good,
			[]string{`dynamic.yml:1:1: htp: unknown key "htp" (did you mean "http"?)`}, "ok"},
		{"router_name_with_dots", "dynamic.yml",
			"http:\n  routers:\n    my.blog:\n      priority: x\n    my:\n      rule: a\n",
			[]string{`dynamic.yml:4:7: http.routers.my.blog.priority = "x": not an integer`}, "my"},
		{"case_of_keys_does_not_matter", "dynamic.yml",
			"HTTP:\n  Routers:\n    blog:\n      Priority: x\n" + good,
			[]string{`dynamic.yml:4:7: HTTP.Routers.blog.Priority = "x": not an integer`}, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			writeFile(t, path, c.content)
			m := newProvider(t, Config{Filename: path}).Load()
			got := errorStrings(m)
			for i := range c.want {
				c.want[i] = filepath.Join(dir, c.want[i])
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if got := routerNames(m); got != c.routers {
				t.Errorf("routers = %q; want %q", got, c.routers)
			}
		})
	}
}

func TestLoadDropsOtherBrokenObjects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.yml")
	writeFile(t, path, `http:
  services:
    bad:
      loadBalancer:
        servers:
          - url: http://a
            weight: heavy
    good:
      loadBalancer:
        servers: [{url: "http://b"}]
  middlewares:
    two:
      stripPrefix: {prefixes: [/a]}
      compress: {}
    one:
      compress: {}
tls:
  certificates:
    - certFile: a.crt
      keyFile: a.key
    - certFile: b.crt
      keyFle: b.key
  options:
    bad:
      sniStrict: maybe
`)
	m := newProvider(t, Config{Filename: path}).Load()
	if len(m.Errors) != 4 {
		t.Errorf("errors = %v", m.Errors)
	}
	h := m.Config.HTTP
	if got := strings.Join(sortedKeys(h.Services), ",") + "|" + strings.Join(sortedKeys(h.Middlewares), ","); got != "good|one" {
		t.Errorf("services|middlewares = %s; want good|one", got)
	}
	if c := m.Config.TLS.Certificates; len(c) != 1 || c[0].CertFile != "a.crt" {
		t.Errorf("certificates = %+v; want only a.crt", c)
	}
	if len(m.Config.TLS.Options) != 0 {
		t.Errorf("tls options = %v; want none", m.Config.TLS.Options)
	}
}

func TestLoadFileStates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	p := newProvider(t, Config{Filename: path})
	const gone = "\x00" // content that means: delete the file
	steps := []struct {
		name    string
		content string
		want    []string
		routers string
	}{
		{"missing_at_start_is_an_error", gone, []string{"dynamic.yml: cannot read the file: no such file or directory"}, ""},
		{"good", "http:\n  routers:\n    a: {rule: x}\n", nil, "a"},
		{"syntax_error_keeps_last_good", "http:\n  routers:\n    b: {rule: x\n",
			[]string{"dynamic.yml:3: invalid YAML: did not find expected ',' or '}'; the last good version of this file is still served"}, "a"},
		{"fixed_recovers", "http:\n  routers:\n    b: {rule: x}\n", nil, "b"},
		{"truncated_to_a_scalar_keeps_last_good", "htt",
			[]string{"dynamic.yml:1:1: the file must hold a map of sections, such as http: and tls:; the last good version of this file is still served"}, "b"},
		{"zero_bytes_keeps_last_good_with_a_warning", "",
			[]string{"warning: dynamic.yml: file is empty (being written?); delete it to withdraw what it defined; the last good version of this file is still served"}, "b"},
		{"only_comments_is_deliberately_empty", "# nothing for now\n", nil, ""},
		{"decode_error_is_not_a_syntax_error", "http:\n  routers:\n    c: {rule: x}\n    d: {priority: x}\n",
			[]string{`dynamic.yml:4:9: http.routers.d.priority = "x": not an integer`}, "c"},
		{"deleted_is_withdrawn_with_a_warning", gone, []string{"warning: dynamic.yml: file was removed; what it defined is withdrawn"}, ""},
		{"recreated", "http:\n  routers:\n    e: {rule: x}\n", nil, "e"},
	}
	for _, s := range steps {
		if s.content == gone {
			_ = os.Remove(path)
		} else {
			writeFile(t, path, s.content)
		}
		m := p.Load()
		for i := range s.want {
			s.want[i] = strings.Replace(s.want[i], "dynamic.yml", path, 1)
		}
		if got := errorStrings(m); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: errors = %q; want %q", s.name, got, s.want)
		}
		if got := routerNames(m); got != s.routers {
			t.Errorf("%s: routers = %q; want %q", s.name, got, s.routers)
		}
	}
}

func TestLoadKeepsUnchangedObjects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	p := newProvider(t, Config{Filename: path})
	doc := func(ruleA, lineC string) string {
		return "http:\n  routers:\n    a:\n      rule: " + ruleA + "\n      service: s\n" +
			"    b:\n      rule: Host(`b.test`)\n      service: s\n" +
			"    c:\n      rule: Host(`c.test`)\n      " + lineC + "\n" +
			"  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.1\n"
	}
	writeFile(t, path, doc("Host(`a.test`)", "service: s"))
	first := p.Load().Config.HTTP
	writeFile(t, path, doc("Host(`new.test`)", "priority: high"))
	m := p.Load()
	second := m.Config.HTTP
	if second.Routers["b"] != first.Routers["b"] || second.Services["s"] != first.Services["s"] {
		t.Error("unchanged router b or service s is a new object")
	}
	if second.Routers["a"] == first.Routers["a"] || second.Routers["a"].Rule != "Host(`new.test`)" {
		t.Errorf("changed router a: %+v; want the new rule in a new object", second.Routers["a"])
	}
	if _, ok := second.Routers["c"]; ok || len(m.Errors) != 1 {
		t.Errorf("broken router c kept (%v), errors %v; want it dropped and reported", ok, errorStrings(m))
	}
	// A router that moved to another line is not the same: its source differs.
	writeFile(t, path, "\n"+doc("Host(`new.test`)", "service: s"))
	third := p.Load().Config.HTTP
	if third.Routers["b"] == second.Routers["b"] || third.Routers["b"].Source.Line != second.Routers["b"].Source.Line+1 {
		t.Errorf("router b moved a line down: source %v, was %v", third.Routers["b"].Source, second.Routers["b"].Source)
	}
}

// TestReloadEqualsFreshLoad loads a series of versions of one file through one provider,
// which keeps unchanged objects from version to version, and each through a new provider,
// which decodes everything: the messages must be equal.
func TestReloadEqualsFreshLoad(t *testing.T) {
	const base = "http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n      service: s\n      middlewares: [m]\n" +
		"    b:\n      rule: Host(`b.test`)\n      service: s\n" +
		"  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.1\n" +
		"  middlewares:\n    m:\n      stripPrefix:\n        prefixes: [/a]\n" +
		"tls:\n  options:\n    default:\n      minVersion: VersionTLS12\n"
	versions := []string{
		base,
		// A name that differs from an unchanged one only in case: both are reported.
		strings.Replace(base, "  services:\n", "    A:\n      rule: Host(`x.test`)\n      service: s\n  services:\n", 1),
		base,
		// The same with the section itself.
		strings.Replace(base, "tls:\n", "  Routers:\n    c:\n      rule: Host(`c.test`)\n      service: s\ntls:\n", 1),
		base,
		strings.Replace(base, "Host(`a.test`)", "Host(`new.test`)", 1),
		strings.Replace(base, "      rule: Host(`b.test`)\n", "      rule: Host(`b.test`)\n      priority: high\n", 1),
		base,
		strings.Replace(base, "prefixes: [/a]", "prefixes: [/b]", 1),
		strings.Replace(base, "    b:\n      rule: Host(`b.test`)\n      service: s\n", "    b: oops\n", 1),
		base,
		"\n" + base,
	}
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	p := newProvider(t, Config{Filename: path})
	for i, v := range versions {
		writeFile(t, path, v)
		got := p.Load()
		want := newProvider(t, Config{Filename: path}).Load()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("version %d: reload gives\n%v\n%v\nwant\n%v\n%v", i, routerNames(got), errorStrings(got), routerNames(want), errorStrings(want))
		}
	}
}

// An object an error or a warning was about is decoded again on the next version, so
// that what is reported does not depend on what changed.
func TestTaintedObjects(t *testing.T) {
	got := taintedObjects(dynamic.Errors{
		{Path: "http.routers.My.Router.priority", Warning: true},
		{Path: "http.services.s.loadBalancer.servers[0].url"},
		{Msg: "no path"},
	})
	for _, want := range []string{"http.routers.my", "http.routers.my.router", "http.routers.my.router.priority", "http.services.s", "http.services.s.loadbalancer.servers"} {
		if !got[want] {
			t.Errorf("%q not tainted; tainted: %v", want, got)
		}
	}
	if got["http.routers.b"] || got["http.services.t"] {
		t.Errorf("untouched objects tainted: %v", got)
	}
}
