package rule

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// baseRequest is the request every match case starts from; cases change one field.
func baseRequest() *Request {
	return &Request{
		Host:   "app.example.com",
		Path:   "/api/users",
		Method: "GET",
		Header: http.Header{
			"Accept":            {"text/html", "application/json"},
			"X-Forwarded-Proto": {"https"},
		},
		RawQuery: "page=2&debug&q=hello+world&k%20ey=v%2Fx",
		ClientIP: netip.MustParseAddr("10.1.2.3"),
	}
}

type matchCase struct {
	name string
	rule string
	req  func(*Request) // nil: baseRequest as is
	want bool
}

func runMatchCases(t *testing.T, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			req := baseRequest()
			if tt.req != nil {
				tt.req(req)
			}
			if got := r.Match(req); got != tt.want {
				t.Errorf("%s matching %+v = %v; want %v", tt.rule, *req, got, tt.want)
			}
		})
	}
}

func host(h string) func(*Request)  { return func(r *Request) { r.Host = h } }
func path(p string) func(*Request)  { return func(r *Request) { r.Path = p } }
func query(q string) func(*Request) { return func(r *Request) { r.RawQuery = q } }
func clientIP(s string) func(*Request) {
	return func(r *Request) { r.ClientIP = netip.MustParseAddr(s) }
}

func TestMatchHost(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"exact", "Host(`app.example.com`)", nil, true},
		{"exact_other", "Host(`www.example.com`)", nil, false},
		{"rule_case_and_dot_ignored", "Host(`App.Example.COM.`)", nil, true},
		{"several_any", "Host(`a.com`, `app.example.com`)", nil, true},
		{"wildcard_one_label", "Host(`*.example.com`)", nil, true},
		{"wildcard_not_apex", "Host(`*.example.com`)", host("example.com"), false},
		{"wildcard_not_two_labels", "Host(`*.example.com`)", host("a.b.example.com"), false},
		{"wildcard_not_suffix_only", "Host(`*.example.com`)", host("badexample.com"), false},
		{"wildcard_empty_label", "Host(`*.example.com`)", host(".example.com"), false},
		{"ipv6", "Host(`[::1]`)", host("::1"), true},
		{"regexp_case_insensitive", "HostRegexp(`^APP\\.example\\.com$`)", nil, true},
		{"regexp_not_anchored", "HostRegexp(`example`)", nil, true},
		{"regexp_anchored_by_user", "HostRegexp(`^example\\.com$`)", nil, false},
	})
}

func TestMatchPathAndMethod(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"path_exact", "Path(`/api/users`)", nil, true},
		{"path_not_prefix", "Path(`/api`)", nil, false},
		{"path_case_sensitive", "Path(`/API/users`)", nil, false},
		{"prefix", "PathPrefix(`/api`)", nil, true},
		{"prefix_is_plain_string", "PathPrefix(`/api`)", path("/apiary"), true},
		{"prefix_no_match", "PathPrefix(`/web`)", nil, false},
		{"prefix_several", "PathPrefix(`/web`, `/api/`)", nil, true},
		{"path_regexp", "PathRegexp(`^/api/[a-z]+$`)", nil, true},
		{"path_regexp_case_sensitive", "PathRegexp(`^/API`)", nil, false},
		{"method", "Method(`GET`)", nil, true},
		{"method_lowercase_rule", "Method(`get`)", nil, true},
		{"method_request_case_sensitive", "Method(`GET`)", func(r *Request) { r.Method = "get" }, false},
		{"method_several", "Method(`POST`, `GET`)", nil, true},
	})
}

func TestMatchHeaderAndQuery(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"header_any_value", "Header(`accept`, `application/json`)", nil, true},
		{"header_exact_value", "Header(`Accept`, `application`)", nil, false},
		{"header_missing", "Header(`X-Missing`, ``)", nil, false},
		{"header_nil_map", "Header(`Accept`, `text/html`)", func(r *Request) { r.Header = nil }, false},
		{"header_regexp", "HeaderRegexp(`Accept`, `json$`)", nil, true},
		{"header_regexp_no_match", "HeaderRegexp(`X-Forwarded-Proto`, `^http$`)", nil, false},
		{"query_present", "Query(`debug`)", nil, true},
		{"query_present_with_value", "Query(`page`)", nil, true},
		{"query_absent", "Query(`nope`)", nil, false},
		{"query_value", "Query(`page`, `2`)", nil, true},
		{"query_value_mismatch", "Query(`page`, `3`)", nil, false},
		{"query_empty_value", "Query(`debug`, ``)", nil, true},
		{"query_plus_is_space", "Query(`q`, `hello world`)", nil, true},
		{"query_key_unescaped", "Query(`k ey`, `v/x`)", nil, true},
		{"query_second_value", "Query(`a`, `2`)", query("a=1&a=2"), true},
		{"query_semicolon_pair_skipped", "Query(`a`)", query("a=1;b=2"), false},
		{"query_bad_escape_skipped", "Query(`a`)", query("a=%zz&b=1"), false},
		{"query_regexp", "QueryRegexp(`page`, `^[0-9]+$`)", nil, true},
		{"query_regexp_no_match", "QueryRegexp(`q`, `^bye`)", nil, false},
		{"query_huge_defers_to_net_url", "Query(`z`, `1`)", query(strings.Repeat("x=1&", 2000) + "z=1"), true},
		// net/url refuses more than 10,000 parameters (GODEBUG urlmaxqueryparams); so do we.
		{"query_over_net_url_limit", "Query(`z`, `1`)", query(strings.Repeat("x=1&", 10000) + "z=1"), false},
	})
}

func TestMatchClientIP(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"exact", "ClientIP(`10.1.2.3`)", nil, true},
		{"exact_other", "ClientIP(`10.1.2.4`)", nil, false},
		{"cidr", "ClientIP(`10.0.0.0/8`)", nil, true},
		{"cidr_miss", "ClientIP(`192.168.0.0/16`)", nil, false},
		{"mapped_request_matches_ipv4", "ClientIP(`10.0.0.0/8`)", clientIP("::ffff:10.1.2.3"), true},
		{"mapped_rule_matches_ipv4", "ClientIP(`::ffff:10.1.2.3`)", nil, true},
		{"mapped_cidr_rule", "ClientIP(`::ffff:10.0.0.0/104`)", nil, true},
		{"ipv4_not_in_ipv6_any", "ClientIP(`::/0`)", nil, false},
		{"ipv6", "ClientIP(`2001:db8::/32`)", clientIP("2001:db8::1"), true},
		{"zone_ignored", "ClientIP(`fe80::/10`)", clientIP("fe80::1%eth0"), true},
		{"missing_client_ip", "ClientIP(`0.0.0.0/0`)", func(r *Request) { r.ClientIP = netip.Addr{} }, false},
	})
}

func TestMatchOperators(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"and_both", "Host(`app.example.com`) && PathPrefix(`/api`)", nil, true},
		{"and_one", "Host(`app.example.com`) && PathPrefix(`/web`)", nil, false},
		{"or_one", "Host(`x.com`) || PathPrefix(`/api`)", nil, true},
		{"or_none", "Host(`x.com`) || PathPrefix(`/web`)", nil, false},
		{"not", "!Method(`POST`)", nil, true},
		// A || B && C is A || (B && C): true via A although C is false.
		{"precedence", "Host(`app.example.com`) || Path(`/x`) && Method(`POST`)", nil, true},
		{"parens_change_meaning", "(Host(`app.example.com`) || Path(`/x`)) && Method(`POST`)", nil, false},
		{"not_binds_tight", "!Host(`x.com`) && Method(`GET`)", nil, true},
	})
}

// TestMatchDoesNotAllocate guards the hot path: the common matchers, and Query on a query
// with nothing to unescape, must not allocate. A malformed query must not matter to rules
// that never look at it.
func TestMatchDoesNotAllocate(t *testing.T) {
	rules := []string{
		"Host(`app.example.com`) && PathPrefix(`/api`)",
		"Host(`*.example.com`) && Path(`/api/users`) && Method(`GET`)",
		"Header(`Accept`, `application/json`) && ClientIP(`10.0.0.0/8`, `::1`)",
		"!Host(`x.com`) || Query(`page`, `2`)",
		"Query(`page`, `2`) && Query(`debug`)",
	}
	req := baseRequest()
	req.ClientIP = netip.MustParseAddr("::ffff:10.1.2.3")
	for _, s := range rules {
		r := MustParse(s)
		if !r.Match(req) {
			t.Errorf("%s does not match the base request", s)
		}
		if n := testing.AllocsPerRun(100, func() { r.Match(req) }); n != 0 {
			t.Errorf("%s: %v allocs per Match; want 0", s, n)
		}
	}
	req.RawQuery = "%zz;&&=="
	if !MustParse("Host(`app.example.com`)").Match(req) {
		t.Error("malformed query broke a Host rule")
	}
}

// TestQueryScanAgreesWithNetURL checks the in-place scan against url.ParseQuery, which is what
// a backend will see: the two must agree on every key's presence and values.
func TestQueryScanAgreesWithNetURL(t *testing.T) {
	raws := []string{
		"", "a", "a=", "=a", "a=1&a=2", "a=1;a=2", "a=1&b;=2&a=3", "a%3Db=1", "a+b=c+d", "a=%",
		"%=1&a=1", "&&a=1&&", "a=%41%42", "k%20ey=v%2Fx", "a==1", "%zz=1&a=%zz&a=ok",
	}
	keys := []string{"a", "b", "a b", "a=b", "", "k ey", "%", "b;"}
	for _, raw := range raws {
		want, _ := url.ParseQuery(raw)
		for _, key := range keys {
			m := &queryMatcher{key: key}
			if got := m.match(&Request{RawQuery: raw}); got != (len(want[key]) > 0) {
				t.Errorf("Query(%q) on %q = %v; net/url has %q", key, raw, got, want[key])
			}
			for _, v := range want[key] {
				m := &queryMatcher{key: key, value: v, hasValue: true}
				if !m.match(&Request{RawQuery: raw}) {
					t.Errorf("Query(%q, %q) on %q = false; net/url has it", key, v, raw)
				}
			}
		}
	}
}
