package rule

import (
	"net/http"
	"net/netip"
	"testing"
)

// BenchmarkMatch measures the rule shape nearly every router has. It must report 0 allocs/op:
// Match runs for every candidate route of every request.
func BenchmarkMatch(b *testing.B) {
	r := MustParse("Host(`blog.example.com`) && PathPrefix(`/api`)")
	req := &Request{
		Host:     "blog.example.com",
		Path:     "/api/posts/42",
		Method:   "GET",
		Header:   http.Header{"Accept": {"application/json"}},
		RawQuery: "page=2",
		ClientIP: netip.MustParseAddr("192.0.2.1"),
	}
	if !r.Match(req) {
		b.Fatal("rule does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Match(req)
	}
}

// BenchmarkMatchMixed covers the other matchers, including a Query scan, for comparison.
func BenchmarkMatchMixed(b *testing.B) {
	r := MustParse("Host(`*.example.com`) && (Method(`GET`, `HEAD`) || Header(`X-Debug`, `1`)) && " +
		"ClientIP(`10.0.0.0/8`, `192.0.2.0/24`) && Query(`page`, `2`)")
	req := &Request{
		Host:     "blog.example.com",
		Path:     "/api/posts/42",
		Method:   "GET",
		Header:   http.Header{"Accept": {"application/json"}},
		RawQuery: "sort=asc&page=2",
		ClientIP: netip.MustParseAddr("::ffff:192.0.2.1"),
	}
	if !r.Match(req) {
		b.Fatal("rule does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Match(req)
	}
}

// BenchmarkParse measures table compilation cost per rule.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("Host(`blog.example.com`) && PathPrefix(`/api`) || Method(`POST`)"); err != nil {
			b.Fatal(err)
		}
	}
}
