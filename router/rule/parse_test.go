package rule

import (
	"strings"
	"testing"
)

// dump renders a compiled tree with every group parenthesized and every argument in its
// canonical form, so tests can assert precedence and canonicalization in one string.
func dump(m matcher) string {
	switch n := m.(type) {
	case andNode:
		return "(" + dumpAll(n, " && ") + ")"
	case orNode:
		return "(" + dumpAll(n, " || ") + ")"
	case notNode:
		return "!" + dump(n.m)
	case *hostMatcher:
		args := append([]string(nil), n.exact...)
		for _, w := range n.wild {
			args = append(args, "*"+w)
		}
		return "Host(" + strings.Join(args, ",") + ")"
	case *regexpMatcher:
		var res []string
		for _, re := range n.res {
			res = append(res, re.String())
		}
		return n.name + "(" + strings.Join(res, ",") + ")"
	case *pathMatcher:
		if n.prefix {
			return "PathPrefix(" + strings.Join(n.paths, ",") + ")"
		}
		return "Path(" + strings.Join(n.paths, ",") + ")"
	case *methodMatcher:
		return "Method(" + strings.Join(n.methods, ",") + ")"
	case *headerMatcher:
		if n.re != nil {
			return "HeaderRegexp(" + n.key + "," + n.re.String() + ")"
		}
		return "Header(" + n.key + "," + n.value + ")"
	case *queryMatcher:
		switch {
		case n.re != nil:
			return "QueryRegexp(" + n.key + "," + n.re.String() + ")"
		case n.hasValue:
			return "Query(" + n.key + "," + n.value + ")"
		}
		return "Query(" + n.key + ")"
	case *clientIPMatcher:
		var ps []string
		for _, p := range n.prefixes {
			ps = append(ps, p.String())
		}
		return "ClientIP(" + strings.Join(ps, ",") + ")"
	}
	return "?"
}

func dumpAll(ms []matcher, sep string) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, dump(m))
	}
	return strings.Join(parts, sep)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"host", "Host(`example.com`)", "Host(example.com)"},
		{"double_quotes", `Host("example.com")`, "Host(example.com)"},
		{"double_quote_escapes", `Header("X-A", "say \"hi\" \\ \x41\u00e9")`, `Header(X-A,say "hi" \ Aé)`},
		{"backtick_keeps_backslashes", "PathRegexp(`^/a\\d+$`)", `PathRegexp(^/a\d+$)`},
		{"host_and_path_prefix", "Host(`a.com`) && PathPrefix(`/api`)", "(Host(a.com) && PathPrefix(/api))"},
		{"and_binds_tighter_than_or", "Host(`a`) || Path(`/b`) && Method(`GET`)", "(Host(a) || (Path(/b) && Method(GET)))"},
		{"and_before_or", "Host(`a`) && Path(`/b`) || Method(`GET`)", "((Host(a) && Path(/b)) || Method(GET))"},
		{"parens_override_precedence", "(Host(`a`) || Path(`/b`)) && Method(`GET`)", "((Host(a) || Path(/b)) && Method(GET))"},
		{"not_binds_to_operand", "!Host(`a`) && Path(`/b`)", "(!Host(a) && Path(/b))"},
		{"not_of_group", "!(Host(`a`) && Path(`/b`))", "!(Host(a) && Path(/b))"},
		{"double_not_cancels", "!!Host(`a`)", "Host(a)"},
		{"triple_not", "!!!Host(`a`)", "!Host(a)"},
		{"nested_parens", "((Host(`a`)))", "Host(a)"},
		{"chains_are_flat", "Host(`a`) || Host(`b`) || Host(`c`)", "(Host(a) || Host(b) || Host(c))"},
		{"whitespace_and_newlines", " Host( `a` ,\n`b` )\t&&\r\nPath(`/`) ", "(Host(a,b) && Path(/))"},
		{"no_space_needed", "Host(`a`)&&!Path(`/x`)", "(Host(a) && !Path(/x))"},
		{"lowercase_names", "host(`a`) && pathprefix(`/p`)", "(Host(a) && PathPrefix(/p))"},
		{"host_canonicalized", "Host(`WWW.Example.COM.`)", "Host(www.example.com)"},
		{"host_wildcard", "Host(`*.Example.com`)", "Host(*.example.com)"},
		{"host_v2_several", "Host(`a.com`, `*.b.com`, `a.com`)", "Host(a.com,*.b.com)"},
		{"host_ipv6_brackets", "Host(`[::1]`)", "Host(::1)"},
		{"host_ipv6_bare", "Host(`FE80::1`)", "Host(fe80::1)"},
		{"host_ipv4", "Host(`127.0.0.1`)", "Host(127.0.0.1)"},
		{"host_regexp_case_insensitive", "HostRegexp(`^[a-z]+\\.example\\.com$`)", `HostRegexp((?i)^[a-z]+\.example\.com$)`},
		{"method_uppercased", "Method(`get`, `Post`)", "Method(GET,POST)"},
		{"header_name_canonical", "Header(`x-forwarded-proto`, `https`)", "Header(X-Forwarded-Proto,https)"},
		{"header_regexp", "HeaderRegexp(`Accept`, `json`)", "HeaderRegexp(Accept,json)"},
		{"query_present", "Query(`debug`)", "Query(debug)"},
		{"query_value", "Query(`a`, ``)", "Query(a,)"},
		{"query_regexp", "QueryRegexp(`id`, `^[0-9]+$`)", "QueryRegexp(id,^[0-9]+$)"},
		{"client_ip_cidr_masked", "ClientIP(`10.1.2.3/8`)", "ClientIP(10.0.0.0/8)"},
		{"client_ip_mapped", "ClientIP(`::ffff:1.2.3.4`, `::ffff:1.2.3.0/120`)", "ClientIP(1.2.3.4/32,1.2.3.0/24)"},
		{"client_ip_v6", "ClientIP(`2001:db8::/32`)", "ClientIP(2001:db8::/32)"},
		{"empty_value_allowed", "Header(`X-Empty`, ``)", "Header(X-Empty,)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := dump(r.root); got != tt.want {
				t.Errorf("Parse(%q) = %s; want %s", tt.expr, got, tt.want)
			}
			if r.String() != tt.expr {
				t.Errorf("String() = %q; want %q", r.String(), tt.expr)
			}
		})
	}
}

func TestParseDeepNesting(t *testing.T) {
	ok := strings.Repeat("(", maxDepth) + "Host(`a`)" + strings.Repeat(")", maxDepth)
	if _, err := Parse(ok); err != nil {
		t.Errorf("nesting %d: %v", maxDepth, err)
	}
	deep := "(" + ok + ")"
	if _, err := Parse(deep); err == nil {
		t.Errorf("nesting %d: got no error", maxDepth+1)
	}
	nots := strings.Repeat("!", 100000) + "Host(`a`)"
	r, err := Parse(nots)
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(r.root); got != "Host(a)" {
		t.Errorf("100000 nots = %s; want Host(a)", got)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad rule did not panic")
		}
	}()
	MustParse("Host(")
}
