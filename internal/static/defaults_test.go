package static

import (
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// TestDefaultsMatchSecurityTable pins the edge-safe defaults of SECURITY.md's table, both
// as loaded and as documented by Defaults.
func TestDefaultsMatchSecurityTable(t *testing.T) {
	c := mustLoad(t, []string{"--providers.docker", "--entrypoints.web.address=:80"}, nil)
	ep := c.EntryPoints["web"]
	rt := ep.Transport.RespondingTimeouts
	checks := []struct {
		what      string
		got, want any
	}{
		{"read header timeout", rt.ReadHeaderTimeout, 10 * time.Second},
		{"read timeout", rt.ReadTimeout, 60 * time.Second},
		{"idle keep-alive timeout", rt.IdleTimeout, 180 * time.Second},
		{"max request header bytes", ep.HTTP.MaxHeaderBytes, 64 << 10},
		{"HTTP/2 concurrent streams", ep.HTTP2.MaxConcurrentStreams, 100},
		{"forwarded headers trusted from nobody", len(ep.ForwardedHeaders.TrustedIPs) == 0 && !ep.ForwardedHeaders.Insecure, true},
		{"exposedByDefault", *c.Providers.Docker.ExposedByDefault, false},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v; want %v", ck.what, ck.got, ck.want)
		}
	}
	if host, _, err := net.SplitHostPort(c.API.Address); err != nil || host != "127.0.0.1" {
		t.Errorf("api.address = %q; want bound to 127.0.0.1", c.API.Address)
	}

	d := Defaults()
	for key, want := range map[string]string{
		"entryPoints.<name>.transport.respondingTimeouts.readHeaderTimeout": "10s",
		"entryPoints.<name>.transport.respondingTimeouts.readTimeout":       "60s",
		"entryPoints.<name>.transport.respondingTimeouts.idleTimeout":       "180s",
		"entryPoints.<name>.http.maxHeaderBytes":                            "65536",
		"entryPoints.<name>.http2.maxConcurrentStreams":                     "100",
		"api.address":                       "127.0.0.1:8080",
		"providers.docker.exposedByDefault": "false",
		"providers.docker.labelPrefix":      "wharf",
		"providers.docker.debounce":         "200ms",
		"providers.docker.resyncInterval":   "5m",
		"server.graceTimeout":               "10s",
	} {
		if d[key] != want {
			t.Errorf("Defaults()[%q] = %q; want %q", key, d[key], want)
		}
	}
}

func TestDefaultsAreKeys(t *testing.T) {
	keys := map[string]bool{"entryPoints": true}
	for _, k := range Keys() {
		keys[k] = true
	}
	for k := range Defaults() {
		if !keys[k] {
			t.Errorf("Defaults() has %q, which Keys() does not list", k)
		}
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, want := range []string{
		"entryPoints.<name>.address",
		"entryPoints.<name>.http.tls.domains[n].sans",
		"entryPoints.<name>.http3",
		"certificatesResolvers.<name>.acme.tlsChallenge",
		"accessLog.fields.headers.names.<name>",
		"api.dashboard",
		"server.graceTimeout",
	} {
		if !contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[strings.ToLower(k)] {
			t.Errorf("Keys() lists %q twice", k)
		}
		seen[strings.ToLower(k)] = true
	}
}

// TestEveryKeyIsSettable resolves every option as a flag and as an environment variable:
// splitting WHARF_* names on "_" must never be ambiguous.
func TestEveryKeyIsSettable(t *testing.T) {
	for _, k := range Keys() {
		k = strings.NewReplacer("<name>", "x", "[n]", ".0").Replace(k)
		for _, tokens := range [][]string{strings.Split(k, "."), strings.Split(strings.ToUpper(strings.ReplaceAll(k, ".", "_")), "_")} {
			r, err := resolve(tokens, strings.ToLower)
			if err != nil {
				t.Errorf("%q: %s", tokens, err.msg)
				continue
			}
			if !strings.EqualFold(strings.ReplaceAll(r.key(), "[0]", ".0"), k) {
				t.Errorf("%q resolved to %q", tokens, r.key())
			}
		}
	}
}

// TestFieldNamesAgreeWithDecoder guards the schema walk (env, flags, Keys) against
// drifting from the names dynamic.Decode accepts.
func TestFieldNamesAgreeWithDecoder(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(rt reflect.Type) {
		rt = deref(rt)
		if seen[rt] || rt == nodePtrType {
			return
		}
		seen[rt] = true
		switch rt.Kind() {
		case reflect.Struct:
			if got, want := fieldNames(rt), dynamic.FieldNames(rt); !reflect.DeepEqual(got, want) && len(want) > 0 {
				t.Errorf("%s: schema names %q; decoder names %q", rt, got, want)
			}
			for i := 0; i < rt.NumField(); i++ {
				visit(rt.Field(i).Type)
			}
		case reflect.Map, reflect.Slice:
			visit(rt.Elem())
		}
	}
	visit(configType)
}

func TestFlagForms(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(*Config) bool
	}{
		{"equals", []string{"--log.level=debug"}, func(c *Config) bool { return c.Log.Level == "debug" }},
		{"separate_value", []string{"--log.level", "debug"}, func(c *Config) bool { return c.Log.Level == "debug" }},
		{"value_with_equals_inside", []string{"--providers.docker.constraints=Label(`a`,`b=c`)"}, func(c *Config) bool { return c.Providers.Docker.Constraints == "Label(`a`,`b=c`)" }},
		{"bare_bool_before_another_flag", []string{"--api.debug", "--log.noColor=false"}, func(c *Config) bool { return c.API.Debug && !c.Log.NoColor }},
		{"duration_as_seconds", []string{"--server.graceTimeout", "30"}, func(c *Config) bool { return c.Server.GraceTimeout == 30*time.Second }},
		{"address_with_tcp_suffix", []string{"--entrypoints.web.address=:8080/tcp"}, func(c *Config) bool { return c.EntryPoints["web"].Address == ":8080" }},
		{"traefik_staging_ca", []string{"--certificatesresolvers.le.acme.email=a@b.c", "--certificatesresolvers.le.acme.tlschallenge", "--certificatesresolvers.le.acme.caserver=staging"},
			func(c *Config) bool { return c.CertificatesResolvers["le"].ACME.CAServer == LetsEncryptStaging }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := mustLoad(t, tt.args, nil); !tt.want(c) {
				t.Errorf("args %q not applied: %+v", tt.args, c)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":           "192.0.2.7/32",
		"10.1.2.3/8":          "10.0.0.0/8",
		"::ffff:192.0.2.7":    "192.0.2.7/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"2001:db8::/32":       "2001:db8::/32",
	} {
		p, err := parsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}
