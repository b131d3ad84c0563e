package rule

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary text to the parser, since rules come from container labels that
// anyone able to start a container controls. Beyond "no panic" it checks the properties the
// router relies on: a parsed rule remembers its text, parsing is deterministic, Match never
// panics, and HostConstraint never excludes a host the rule matches.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Host(`example.com`)",
		"Host(`a.com`) && PathPrefix(`/api`) || !Method(`POST`)",
		`Host("a.com", "*.b.com") && Header("X-A", "say \"hi\"")`,
		"(Host(`*.x.com`) || HostRegexp(`^y`)) && Query(`k`, `v`) && ClientIP(`10.0.0.0/8`)",
		"QueryRegexp(`id`, `^[0-9]+$`) && HeaderRegexp(`Accept`, `json`) && PathRegexp(`/a`)",
		"Host(`a`) &&",
		"((Host(`a`)",
		"hots(`a`)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		r, err := Parse(expr)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Rule != expr || e.Offset < 0 || e.Offset > len(expr) || e.Msg == "" {
				t.Fatalf("Parse(%q): bad error %#v", expr, err)
			}
			return
		}
		if r.String() != expr {
			t.Fatalf("String() = %q; want %q", r.String(), expr)
		}
		r2, err := Parse(expr)
		if err != nil || dump(r.root) != dump(r2.root) || !slices.Equal(r.Hosts(), r2.Hosts()) {
			t.Fatalf("Parse(%q) is not deterministic: %s vs %v", expr, dump(r.root), err)
		}
		checkMatchAndConstraint(t, r)
	})
}

// fuzzRequest is a fixed request with every field set, so that every matcher runs.
var fuzzRequest = Request{
	Host:     "a.example.com",
	Path:     "/api/x",
	Method:   "GET",
	Header:   http.Header{"Accept": {"application/json"}, "X-A": {""}},
	RawQuery: "k=v&debug&q=a+b&bad=%zz",
	ClientIP: netip.MustParseAddr("::ffff:10.0.0.1"),
}

// checkMatchAndConstraint runs r against the fixed request under several hosts, including the
// rule's own names, and checks HostConstraint's soundness for each host that matches.
func checkMatchAndConstraint(t *testing.T, r *Rule) {
	exact, wild, ok := r.HostConstraint()
	hosts := append([]string{fuzzRequest.Host, "example.com", ""}, r.Hosts()...)
	for _, w := range wild {
		hosts = append(hosts, "x."+w, w)
	}
	for _, h := range hosts {
		req := fuzzRequest
		req.Host = h
		if !r.Match(&req) || !ok {
			continue
		}
		if !slices.Contains(exact, h) && !slices.ContainsFunc(wild, func(w string) bool { return MatchHost("*."+w, h) }) {
			t.Fatalf("%s matches host %q outside HostConstraint() = %q, %q", r, h, exact, wild)
		}
	}
}
