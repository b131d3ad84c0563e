package rule

import (
	"slices"
	"testing"
)

func TestCanonicalHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"example.com..", "example.com."}, // one dot only: the rest is not a name we serve
		{"example.com:8080", "example.com"},
		{"Example.com.:443", "example.com"},
		{"127.0.0.1:80", "127.0.0.1"},
		{"[::1]:80", "::1"},
		{"[::1]", "::1"},
		{"[FE80::1]:443", "fe80::1"},
		{"fe80::1", "fe80::1"},
		{"", ""},
		{"example.com:", "example.com"},
	}
	for _, tt := range tests {
		if got := CanonicalHost(tt.in); got != tt.want {
			t.Errorf("CanonicalHost(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalHost("example.com:8080") }); n != 0 {
		t.Errorf("CanonicalHost of a lowercase host: %v allocs; want 0", n)
	}
}

func TestMatchHostPatterns(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "www.example.com", false},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "xexample.com", false},
		{"*.example.com", ".example.com", false},
		{"*.example.com", "*.example.com", true}, // a literal "*" label is still one label
		{"*example.com", "xexample.com", false},  // not a wildcard pattern: compared exactly
	}
	for _, tt := range tests {
		if got := MatchHost(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchHost(%q, %q) = %v; want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestHostConstraint(t *testing.T) {
	tests := []struct {
		name      string
		rule      string
		exact     []string
		wildcards []string
		ok        bool
	}{
		{"single_host", "Host(`a.com`)", []string{"a.com"}, nil, true},
		{"wildcard", "Host(`*.a.com`)", nil, []string{"a.com"}, true},
		{"several", "Host(`a.com`, `*.b.com`)", []string{"a.com"}, []string{"b.com"}, true},
		{"and_with_path", "Host(`a.com`) && PathPrefix(`/api`)", []string{"a.com"}, nil, true},
		{"and_path_first", "PathPrefix(`/api`) && Host(`a.com`)", []string{"a.com"}, nil, true},
		{"or_of_hosts", "Host(`a.com`) || Host(`b.com`) && Path(`/`)", []string{"a.com", "b.com"}, nil, true},
		{"or_dedupes", "Host(`a.com`) || Host(`a.com`, `*.x.com`) || Host(`*.x.com`)", []string{"a.com"}, []string{"x.com"}, true},
		{"or_with_unconstrained", "Host(`a.com`) || Path(`/`)", nil, nil, false},
		{"no_host", "PathPrefix(`/`)", nil, nil, false},
		{"negated_host", "!Host(`a.com`)", nil, nil, false},
		{"negated_host_and_host", "!Host(`a.com`) && Host(`b.com`)", []string{"b.com"}, nil, true},
		{"host_regexp", "HostRegexp(`^a\\.com$`)", nil, nil, false},
		{"intersect_exact", "Host(`a.com`, `b.com`) && Host(`b.com`, `c.com`)", []string{"b.com"}, nil, true},
		{"intersect_exact_with_wildcard", "Host(`x.a.com`, `a.com`) && Host(`*.a.com`)", []string{"x.a.com"}, nil, true},
		{"intersect_wildcard_with_exact", "Host(`*.a.com`) && Host(`y.a.com`, `y.b.a.com`)", []string{"y.a.com"}, nil, true},
		{"intersect_wildcards", "Host(`*.a.com`, `*.b.com`) && Host(`*.b.com`, `*.c.com`)", nil, []string{"b.com"}, true},
		{"intersect_empty_is_never", "Host(`a.com`) && Host(`b.com`)", nil, nil, true},
		{"group", "(Host(`a.com`) || Host(`b.com`)) && Method(`GET`)", []string{"a.com", "b.com"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exact, wild, ok := MustParse(tt.rule).HostConstraint()
			if ok != tt.ok || !slices.Equal(exact, tt.exact) || !slices.Equal(wild, tt.wildcards) {
				t.Errorf("HostConstraint() = %q, %q, %v; want %q, %q, %v", exact, wild, ok, tt.exact, tt.wildcards, tt.ok)
			}
		})
	}
}

// TestHostConstraintSound checks the one promise HostConstraint makes, by brute force: for
// every rule and host, if the rule matches then the constraint admits the host.
func TestHostConstraintSound(t *testing.T) {
	rules := []string{
		"Host(`a.com`) && Host(`*.a.com`)",
		"Host(`*.a.com`) && !Host(`x.a.com`)",
		"(Host(`a.com`) || Host(`*.b.com`)) && (Host(`x.b.com`) || Host(`a.com`, `*.a.com`))",
		"Host(`a.com`) || Host(`b.com`) && PathPrefix(`/`)",
		"!!Host(`a.com`)",
		"Host(`*.a.com`) && Host(`*.a.com`, `x.b.a.com`) || Host(`c.com`)",
	}
	hosts := []string{"a.com", "x.a.com", "x.b.a.com", "b.com", "x.b.com", "y.b.com", "c.com", "a.a.com"}
	for _, s := range rules {
		r := MustParse(s)
		exact, wild, ok := r.HostConstraint()
		if !ok {
			t.Errorf("%s: unconstrained; this test expects constrained rules", s)
			continue
		}
		for _, h := range hosts {
			admitted := slices.Contains(exact, h) || slices.ContainsFunc(wild, func(w string) bool {
				return MatchHost("*."+w, h)
			})
			if r.Match(&Request{Host: h, Path: "/"}) && !admitted {
				t.Errorf("%s matches %q, but HostConstraint() = %q, %q", s, h, exact, wild)
			}
		}
	}
}

func TestHosts(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want []string
	}{
		{"single", "Host(`a.com`)", []string{"a.com"}},
		{"order_and_dedupe", "Host(`b.com`, `a.com`) || Host(`B.com.`) && Path(`/`)", []string{"b.com", "a.com"}},
		{"wildcards_left_out", "Host(`*.a.com`, `b.com`)", []string{"b.com"}},
		{"negated_left_out", "Host(`a.com`) && !Host(`b.com`)", []string{"a.com"}},
		{"double_negation_kept", "!(Path(`/`) || !Host(`a.com`))", []string{"a.com"}},
		{"regexp_left_out", "HostRegexp(`a\\.com`)", nil},
		{"none", "Path(`/`)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MustParse(tt.rule).Hosts(); !slices.Equal(got, tt.want) {
				t.Errorf("Hosts() = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestResultsAreCopies makes sure a caller cannot change a shared Rule through a result.
func TestResultsAreCopies(t *testing.T) {
	r := MustParse("Host(`a.com`)")
	r.Hosts()[0] = "evil.com"
	exact, _, _ := r.HostConstraint()
	exact[0] = "evil.com"
	if !r.Match(&Request{Host: "a.com"}) || r.Hosts()[0] != "a.com" {
		t.Error("modifying a result changed the rule")
	}
	if e, _, _ := r.HostConstraint(); e[0] != "a.com" {
		t.Error("modifying HostConstraint's result changed the rule")
	}
}
