package tls

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func names(ns []Name) []string {
	var out []string
	for _, n := range ns {
		s := n.Resolver + ":" + n.Host
		if len(n.SANs) > 0 {
			s += "+" + strings.Join(n.SANs, "+")
		}
		out = append(out, s)
	}
	return out
}

func TestStateForNames(t *testing.T) {
	le := &dynamic.RouterTLS{CertResolver: "le"}
	cases := []struct {
		name  string
		route Route
		want  []string
	}{
		{"host", Route{Rule: "Host(`blog.example.com`)", TLS: le}, []string{"le:blog.example.com"}},
		{"canonical", Route{Rule: "Host(`Blog.Example.COM.`)", TLS: le}, []string{"le:blog.example.com"}},
		{"several hosts", Route{Rule: "Host(`a.example`, `b.example`)", TLS: le}, []string{"le:a.example", "le:b.example"}},
		{"or", Route{Rule: "Host(`a.example`) || Host(`b.example`)", TLS: le}, []string{"le:a.example", "le:b.example"}},
		{"with path", Route{Rule: "Host(`a.example`) && PathPrefix(`/api`)", TLS: le}, []string{"le:a.example"}},
		{"negated host left out", Route{Rule: "Host(`a.example`) && !Host(`b.example`)", TLS: le}, []string{"le:a.example"}},
		{"wildcard is not a name", Route{Rule: "Host(`*.example.com`)", TLS: le}, nil},
		{"host regexp is not a name", Route{Rule: "HostRegexp(`^.+\\.example\\.com$`)", TLS: le}, nil},
		{"no resolver", Route{Rule: "Host(`a.example`)", TLS: &dynamic.RouterTLS{}}, nil},
		{"no tls", Route{Rule: "Host(`a.example`)"}, nil},
		{"bad rule skipped", Route{Rule: "Host(`a.example`", TLS: le}, nil},
		{"domains win over the rule", Route{Rule: "Host(`a.example`)", TLS: &dynamic.RouterTLS{CertResolver: "dns",
			Domains: []dynamic.Domain{{Main: "example.org", SANs: []string{"*.example.org"}}}}},
			[]string{"dns:example.org+*.example.org"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, errs := StateFor([]Route{c.route}, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := names(s.Managed); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("names of %q: got %q; want %q", c.route.Rule, got, c.want)
			}
		})
	}
}

func TestStateForOptionsAndOnDemand(t *testing.T) {
	routes := []Route{
		{Name: "api@file", Rule: "Host(`api.example.com`)", TLS: &dynamic.RouterTLS{Options: "modern@file"}},
		{Name: "apps@file", Rule: "Host(`*.apps.example.com`) && PathPrefix(`/`)", TLS: &dynamic.RouterTLS{Options: "mtls@file"}},
		{Name: "plain@file", Rule: "Host(`plain.example.com`)"},
		{Name: "open@file", Rule: "PathPrefix(`/`)", TLS: &dynamic.RouterTLS{}},
		{Name: "one@file", Rule: "Host(`both.example.com`)", TLS: &dynamic.RouterTLS{Options: "a@file"}},
		{Name: "two@file", Rule: "Host(`both.example.com`)", TLS: &dynamic.RouterTLS{Options: "b@file"}},
	}
	s, errs := StateFor(routes, nil)
	if len(errs) != 1 || !errs[0].Warning || !strings.Contains(errs[0].Error(), `"two@file"`) || !strings.Contains(errs[0].Error(), `"one@file"`) {
		t.Fatalf("errors: %v; want one warning about both.example.com naming both routers", errs)
	}
	for host, want := range map[string]string{
		"api.example.com":      "modern@file",
		"x.apps.example.com":   "mtls@file",
		"apps.example.com":     "",
		"a.b.apps.example.com": "",
		"plain.example.com":    "",
		"both.example.com":     DefaultOptions,
	} {
		if got := s.OptionsForHost(host); got != want {
			t.Errorf("OptionsForHost(%q) = %q; want %q", host, got, want)
		}
	}
	for host, want := range map[string]bool{
		"api.example.com":    true,
		"x.apps.example.com": true,
		"apps.example.com":   false,
		"plain.example.com":  false, // no TLS on that router
		"evil.example":       false, // a TLS router without Host allows no name
	} {
		if got := s.OnDemandAllowed(host); got != want {
			t.Errorf("OnDemandAllowed(%q) = %v; want %v", host, got, want)
		}
	}
}

func TestStateForTLSConfiguration(t *testing.T) {
	def := &dynamic.Certificate{CertFile: "d.pem", KeyFile: "d.key"}
	conf := &dynamic.TLSConfiguration{
		Certificates: []dynamic.Certificate{{CertFile: "c.pem", KeyFile: "c.key"}},
		Options:      map[string]*dynamic.TLSOptions{"default": {MinVersion: "VersionTLS13"}},
		Stores:       map[string]*dynamic.TLSStore{"default": {DefaultCertificate: def}},
	}
	s, _ := StateFor(nil, conf)
	if len(s.Certificates) != 1 || s.Options["default"] == nil || s.DefaultCertificate != def {
		t.Fatalf("StateFor did not carry the TLS configuration: %+v", s)
	}
}

func TestResolveNames(t *testing.T) {
	m := &Manager{resolvers: map[string]*resolver{
		"le":  {name: "le", conf: ResolverConfig{Challenge: ChallengeHTTP}},
		"dns": {name: "dns", conf: ResolverConfig{Challenge: ChallengeDNS}},
	}}
	src := dynamic.Source{Container: "blog-web-1", Label: "wharf.http.routers.blog.tls.certresolver"}
	want, errs := m.resolveNames([]Name{
		{Host: "Blog.Example.COM", Resolver: "le", Source: src},
		{Host: "example.org", SANs: []string{"*.example.org"}, Resolver: "dns"},
		{Host: "*.bad.example", Resolver: "le", Source: src},
		{Host: "x.example", Resolver: "lee", Source: src},
		{Host: "blog.example.com", Resolver: "dns"},
	})
	got := map[string]string{}
	for h, r := range want {
		got[h] = r.name
	}
	if exp := map[string]string{"blog.example.com": "le", "example.org": "dns", "*.example.org": "dns"}; !reflect.DeepEqual(got, exp) {
		t.Errorf("names: got %v; want %v", got, exp)
	}
	msgs := fmt.Sprint(errs)
	for _, w := range []string{`container "blog-web-1"`, "needs the DNS-01 challenge", `resolver "lee" is not defined`, `did you mean "le"`, `"le" keeps it`} {
		if !strings.Contains(msgs, w) {
			t.Errorf("errors %q do not mention %q", msgs, w)
		}
	}
}
