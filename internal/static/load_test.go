package static

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a wharf.yml into a fresh temporary directory and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wharf.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads with no default search path, so a wharf.yml on the test machine can never
// leak into a test.
func mustLoad(t *testing.T, args, env []string) *Config {
	t.Helper()
	c, err := load(args, env, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func TestLoadTraefikYAML(t *testing.T) {
	c := mustLoad(t, []string{"--config", "testdata/traefik.yml"}, nil)
	if got := c.ConfigFile(); got != "testdata/traefik.yml" {
		t.Errorf("ConfigFile() = %q", got)
	}
	web, ws := c.EntryPoints["web"], c.EntryPoints["websecure"]
	if web == nil || ws == nil || len(c.EntryPoints) != 2 {
		t.Fatalf("entryPoints = %v", c.EntryPoints)
	}
	if r := web.HTTP.Redirections.EntryPoint; r.To != "websecure" || r.Scheme != "https" || !*r.Permanent {
		t.Errorf("redirect = %+v", r)
	}
	if ws.HTTP.TLS.CertResolver != "le" || ws.HTTP.TLS.Domains[0].Main != "example.com" || ws.HTTP.TLS.Domains[0].SANs[0] != "*.example.com" {
		t.Errorf("websecure tls = %+v", ws.HTTP.TLS)
	}
	if got := ws.ForwardedHeaders.TrustedPrefixes(); len(got) != 2 || got[1].String() != "192.0.2.7/32" {
		t.Errorf("trusted = %v", got)
	}
	rt := ws.Transport.RespondingTimeouts
	if rt.ReadTimeout != 30*time.Second || rt.IdleTimeout != 90*time.Second || rt.ReadHeaderTimeout != 10*time.Second {
		t.Errorf("timeouts = %+v", rt)
	}
	if c.Providers.File.Directory != "/etc/wharf/dynamic" || c.Providers.ProvidersThrottleDuration != time.Second {
		t.Errorf("providers = %+v file=%+v", c.Providers, c.Providers.File)
	}
	d := c.Providers.Docker
	if d.Network != "proxy" || *d.ExposedByDefault || d.LabelPrefix != "wharf" || d.Endpoint != DefaultDockerEndpoint {
		t.Errorf("docker = %+v", d)
	}
	a := c.CertificatesResolvers["le"].ACME
	if a.Email != "admin@example.com" || a.HTTPChallenge.EntryPoint != "web" || a.TLSChallenge == nil || a.CAServer != LetsEncryptProduction {
		t.Errorf("acme = %+v", a)
	}
	if a.Storage != "/letsencrypt" || len(c.Warnings()) != 1 || !strings.Contains(c.Warnings()[0].Error(), "traefik.yml:45:7: certificatesResolvers.le.acme.storage") {
		t.Errorf("storage = %q, warnings = %v", a.Storage, c.Warnings())
	}
	if c.API == nil || c.API.Address != DefaultAPIAddress || !*c.API.Dashboard || c.Ping == nil {
		t.Errorf("api = %+v ping = %+v", c.API, c.Ping)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("log = %+v", c.Log)
	}
	al := c.AccessLog
	if al.Format != "json" || al.Filters.MinDuration != 10*time.Millisecond || al.Fields.Headers.Names["User-Agent"] != "keep" || al.Fields.Headers.DefaultMode != "drop" {
		t.Errorf("accessLog = %+v", al)
	}
	if p := c.Metrics.Prometheus; !p.AddRoutersLabels || !*p.AddServicesLabels || !reflect.DeepEqual(p.Buckets, []float64{0.1, 0.5, 2}) {
		t.Errorf("prometheus = %+v", p)
	}
}

func TestLoadCaseInsensitiveKeys(t *testing.T) {
	path := writeConfig(t, `
ENTRYPOINTS:
  Web:
    ADDRESS: ":8000"
    forwardedheaders:
      TRUSTEDIPS: [10.0.0.0/8]
LOG:
  Level: WARN
`)
	c := mustLoad(t, []string{"--CONFIG=" + path, "--EntryPoints.web.Http2.MaxConcurrentStreams=7"},
		[]string{"WHARF_entrypoints_WEB_asdefault=true"})
	ep := c.EntryPoints["Web"]
	if ep == nil || len(c.EntryPoints) != 1 {
		t.Fatalf("entryPoints = %v; want one, spelled as in the file", c.EntryPoints)
	}
	if ep.Address != ":8000" || ep.HTTP2.MaxConcurrentStreams != 7 || !ep.AsDefault || len(ep.ForwardedHeaders.TrustedIPs) != 1 {
		t.Errorf("entrypoint = %+v", ep)
	}
	if c.Log.Level != "warn" {
		t.Errorf("log.level = %q; want it lowered", c.Log.Level)
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeConfig(t, `
entryPoints:
  web:
    address: ":1"
log:
  level: error
  filePath: /from/file
api:
  address: 127.0.0.1:9001
`)
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantAddr string
		wantLvl  string
	}{
		{"file_alone", nil, nil, ":1", "error"},
		{"env_over_file", nil, []string{"WHARF_ENTRYPOINTS_WEB_ADDRESS=:2", "WHARF_LOG_LEVEL=warn"}, ":2", "warn"},
		{"flag_over_env", []string{"--entrypoints.web.address=:3"}, []string{"WHARF_ENTRYPOINTS_WEB_ADDRESS=:2"}, ":3", "error"},
		{"flag_with_separate_value", []string{"--log.level", "trace"}, []string{"WHARF_LOG_LEVEL=warn"}, ":1", "trace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, append([]string{"--config", path}, tt.args...), tt.env)
			if got := c.EntryPoints["web"].Address; got != tt.wantAddr {
				t.Errorf("address = %q; want %q", got, tt.wantAddr)
			}
			if c.Log.Level != tt.wantLvl || c.Log.FilePath != "/from/file" {
				t.Errorf("log = %+v; want level %q and the file's filePath", c.Log, tt.wantLvl)
			}
			if c.API.Address != "127.0.0.1:9001" {
				t.Errorf("api.address = %q; a flag on another key must not drop it", c.API.Address)
			}
		})
	}
}

func TestLoadSwitches(t *testing.T) {
	docker := writeConfig(t, "providers:\n  docker:\n    network: proxy\n")
	tests := []struct {
		name  string
		file  string
		args  []string
		env   []string
		check func(*Config) bool
	}{
		{"api_false_disables", "api: false\n", nil, nil, func(c *Config) bool { return c.API == nil }},
		{"api_absent_enables", "log: {level: info}\n", nil, nil, func(c *Config) bool { return c.API != nil && c.API.Address == DefaultAPIAddress }},
		{"api_flag_false_over_file", "api:\n  debug: true\n", []string{"--api=false"}, nil, func(c *Config) bool { return c.API == nil }},
		{"bare_flag_enables_section", "", []string{"--providers.docker"}, nil, func(c *Config) bool {
			return c.Providers.Docker != nil && c.Providers.Docker.Endpoint == DefaultDockerEndpoint
		}},
		{"bare_bool_flag_is_true", "", []string{"--api.insecure", "--log.noColor"}, nil, func(c *Config) bool { return c.API.Insecure && c.Log.NoColor && c.API.Address == ":8080" }},
		{"bool_flag_takes_literal", "", []string{"--api.dashboard", "false"}, nil, func(c *Config) bool { return !*c.API.Dashboard }},
		{"empty_map_enables", "ping: {}\n", nil, nil, func(c *Config) bool { return c.Ping != nil && c.Ping.TerminatingStatusCode == 503 }},
		{"docker_host_is_default_endpoint", "", []string{"--providers.docker=true"}, []string{"DOCKER_HOST=tcp://docker:2375"}, func(c *Config) bool { return c.Providers.Docker.Endpoint == "tcp://docker:2375" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, append([]string{"--config", writeConfig(t, tt.file)}, tt.args...), tt.env)
			if !tt.check(c) {
				t.Errorf("api=%+v docker=%+v ping=%+v log=%+v", c.API, c.Providers.Docker, c.Ping, c.Log)
			}
		})
	}
	t.Run("disabling_flag_drops_file_section", func(t *testing.T) {
		if c := mustLoad(t, []string{"--config", docker, "--providers.docker=false"}, nil); c.Providers.Docker != nil {
			t.Errorf("docker = %+v; want off", c.Providers.Docker)
		}
	})
	t.Run("enabling_flag_keeps_file_options", func(t *testing.T) {
		c := mustLoad(t, []string{"--config", docker, "--providers.docker"}, []string{"WHARF_PROVIDERS_DOCKER=true"})
		if d := c.Providers.Docker; d == nil || d.Network != "proxy" {
			t.Errorf("docker = %+v; want the file's network kept", d)
		}
	})
}

func TestLoadListsFromEnvAndFlags(t *testing.T) {
	c := mustLoad(t, []string{
		"--entrypoints.websecure.address=:443",
		"--entrypoints.websecure.http.tls.domains[1].main=b.example",
		"--entrypoints.websecure.http.tls.domains[0].main=a.example",
		"--entrypoints.websecure.http.tls.domains[0].sans=x.a.example,y.a.example",
	}, []string{"WHARF_ENTRYPOINTS_WEBSECURE_FORWARDEDHEADERS_TRUSTEDIPS=10.0.0.0/8, 192.0.2.1"})
	ws := c.EntryPoints["websecure"]
	if ws == nil {
		t.Fatalf("entryPoints = %v", c.EntryPoints)
	}
	if d := ws.HTTP.TLS.Domains; len(d) != 2 || d[0].Main != "a.example" || d[1].Main != "b.example" || len(d[0].SANs) != 2 {
		t.Errorf("domains = %+v", d)
	}
	if ips := ws.ForwardedHeaders.TrustedIPs; len(ips) != 2 || ips[1] != "192.0.2.1" {
		t.Errorf("trustedIPs = %q", ips)
	}
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	c := mustLoad(t, nil, []string{"PATH=/bin", "HOME=/root"})
	if c.ConfigFile() != "" {
		t.Errorf("ConfigFile() = %q; want none", c.ConfigFile())
	}
	ep := c.EntryPoints[DefaultEntryPointName]
	if len(c.EntryPoints) != 1 || ep == nil || ep.Address != ":80" {
		t.Fatalf("entryPoints = %v; want http on :80", c.EntryPoints)
	}
	if c.Providers.Docker != nil || c.Providers.File != nil || c.AccessLog != nil || c.Ping != nil || c.Metrics != nil {
		t.Errorf("optional sections on by default: %+v", c)
	}
	if c.Log.Level != "info" || c.Log.Format != "" || c.Server.GraceTimeout != 10*time.Second {
		t.Errorf("log = %+v server = %+v", c.Log, c.Server)
	}
}

func TestConfigFileChoice(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "etc-wharf.yml"), filepath.Join(dir, "wharf.yml")
	for _, p := range []string{first, second} {
		if err := os.WriteFile(p, []byte("log: {filePath: "+p+"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.yml")
	tests := []struct {
		name   string
		args   []string
		env    []string
		search []string
		want   string
	}{
		{"first_of_search_path", nil, nil, []string{first, second}, first},
		{"skips_missing_in_search_path", nil, nil, []string{missing, second}, second},
		{"none_found_is_fine", nil, nil, []string{missing}, ""},
		{"env_names_file", nil, []string{"WHARF_CONFIG=" + second}, []string{first}, second},
		{"flag_over_env", []string{"--config=" + first}, []string{"WHARF_CONFIG=" + second}, nil, first},
		{"traefik_configFile_flag", []string{"--configFile", second}, nil, nil, second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.args, tt.env, tt.search)
			if err != nil {
				t.Fatal(err)
			}
			if c.ConfigFile() != tt.want || c.Log.FilePath != tt.want {
				t.Errorf("read %q (log.filePath %q); want %q", c.ConfigFile(), c.Log.FilePath, tt.want)
			}
		})
	}
	if got, want := ConfigSearchPath(), []string{"/etc/wharf/wharf.yml", "wharf.yml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigSearchPath() = %q; want %q", got, want)
	}
}

func TestLoadTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traefik.toml")
	toml := "[entryPoints.web]\naddress = \":8000\"\n\n[log]\nlevel = \"debug\"\n\n[api]\ndashboard = false\n"
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, []string{"--config", path}, nil)
	if c.EntryPoints["web"].Address != ":8000" || c.Log.Level != "debug" || *c.API.Dashboard {
		t.Errorf("entryPoints=%v log=%+v api=%+v", c.EntryPoints, c.Log, c.API)
	}
	bad := filepath.Join(t.TempDir(), "traefik.toml")
	if err := os.WriteFile(bad, []byte("[entryPoints.web]\nadress = \":80\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load([]string{"--config", bad}, nil, nil)
	if want := bad + `:2:1: entryPoints.web.adress: unknown key "adress" (did you mean "address"?)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want it to contain %s", err, want)
	}
}

func TestLoadListFromHigherLayerReplacesWholeList(t *testing.T) {
	path := writeConfig(t, `
entryPoints:
  websecure:
    address: ":443"
    forwardedHeaders:
      trustedIPs: [10.0.0.0/8, 172.16.0.0/12]
    http:
      tls:
        domains:
          - main: a.example
          - main: b.example
`)
	c := mustLoad(t, []string{"--config", path, "--entrypoints.websecure.http.tls.domains[0].main=c.example"},
		[]string{"WHARF_ENTRYPOINTS_WEBSECURE_FORWARDEDHEADERS_TRUSTEDIPS=192.0.2.0/24"})
	ws := c.EntryPoints["websecure"]
	if ips := ws.ForwardedHeaders.TrustedIPs; len(ips) != 1 || ips[0] != "192.0.2.0/24" {
		t.Errorf("trustedIPs = %q; want only the variable's", ips)
	}
	if d := ws.HTTP.TLS.Domains; len(d) != 1 || d[0].Main != "c.example" {
		t.Errorf("domains = %+v; want only the flag's", d)
	}
}
