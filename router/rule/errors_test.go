package rule

import (
	"errors"
	"testing"
)

// TestParseErrors pins the exact message for each kind of mistake: the offset is what an
// editor or the dashboard points at, so it is part of the contract.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"empty", "", `rule "": offset 0: empty rule`},
		{"blank", "  ", `rule "  ": offset 0: empty rule`},
		{"missing_operand_after_and", "Host(`a`) &&", "rule \"Host(`a`) &&\": offset 12: expected a matcher after \"&&\""},
		{"missing_operand_after_or", "Host(`a`) || )", "rule \"Host(`a`) || )\": offset 13: expected a matcher after \"||\", got \")\""},
		{"missing_operand_after_not", "Host(`a`) && !", "rule \"Host(`a`) && !\": offset 14: expected a matcher after \"!\""},
		{"leading_operator", "&& Host(`a`)", "rule \"&& Host(`a`)\": offset 0: expected a matcher, got \"&&\""},
		{"single_ampersand", "Host(`a`) & Path(`/`)", "rule \"Host(`a`) & Path(`/`)\": offset 10: unexpected \"&\", did you mean \"&&\"?"},
		{"unclosed_group", "(Host(`a`)", "rule \"(Host(`a`)\": offset 0: unclosed \"(\""},
		{"unclosed_args", "Host(`a`", "rule \"Host(`a`\": offset 4: unclosed \"(\""},
		{"extra_close_paren", "Host(`a`))", "rule \"Host(`a`))\": offset 9: unexpected \")\" without a matching \"(\""},
		{"empty_group", "()", `rule "()": offset 1: expected a matcher after "(", got ")"`},
		{"trailing_garbage", "Host(`a`) Path(`/`)", "rule \"Host(`a`) Path(`/`)\": offset 10: expected \"&&\" or \"||\", got \"Path\""},
		{"garbage_in_group", "(Host(`a`) Path(`/`))", "rule \"(Host(`a`) Path(`/`))\": offset 11: expected \"&&\", \"||\" or \")\", got \"Path\""},
		{"bad_character", "Host(`a`) #", "rule \"Host(`a`) #\": offset 10: unexpected character \"#\""},
		{"unknown_with_suggestion", "Hots(`a`)", "rule \"Hots(`a`)\": offset 0: unknown matcher \"Hots\" (did you mean \"Host\"?)"},
		{"v2_name_suggestion", "PathPrefix(`/`) && headers(`a`, `b`)", "rule \"PathPrefix(`/`) && headers(`a`, `b`)\": offset 19: unknown matcher \"headers\" (did you mean \"Header\"?)"},
		{"unknown_without_suggestion", "Foo(`a`)", "rule \"Foo(`a`)\": offset 0: unknown matcher \"Foo\""},
		{"missing_paren", "Host", `rule "Host": offset 4: expected "(" after Host, got end of rule`},
		{"unterminated_backtick", "Host(`a", "rule \"Host(`a\": offset 5: unterminated string"},
		{"unterminated_quote", `Host("a)`, `rule "Host(\"a)": offset 5: unterminated string`},
		{"bad_escape", `Host("a\q")`, `rule "Host(\"a\\q\")": offset 7: invalid escape sequence in string`},
		{"newline_in_quotes", "Host(\"a\nb\")", `rule "Host(\"a\nb\")": offset 7: newline in string`},
		{"unquoted_argument", "Host(a.com)", `rule "Host(a.com)": offset 5: expected a string in backticks or double quotes, got "a"`},
		{"single_quotes", "Host('a')", `rule "Host('a')": offset 5: unexpected "'": quote strings with backticks or double quotes`},
		{"trailing_comma", "Host(`a`,)", "rule \"Host(`a`,)\": offset 9: expected a string in backticks or double quotes after \",\", got \")\""},
		{"missing_comma", "Host(`a` `b`)", "rule \"Host(`a` `b`)\": offset 9: expected \",\" or \")\", got string `b`"},
		{"no_arguments", "Host()", `rule "Host()": offset 0: Host takes at least 1 argument, got 0`},
		{"too_few_arguments", "Header(`a`)", "rule \"Header(`a`)\": offset 0: Header takes 2 arguments, got 1"},
		{"too_many_arguments", "Query(`a`,`b`,`c`)", "rule \"Query(`a`,`b`,`c`)\": offset 0: Query takes 1 or 2 arguments, got 3"},
		{"invalid_regexp", "Path(`/`) || PathRegexp(`(`)", "rule \"Path(`/`) || PathRegexp(`(`)\": offset 24: invalid regexp \"(\": missing closing ): \"(\""},
		{"host_with_port", "Host(`a.com:8080`)", "rule \"Host(`a.com:8080`)\": offset 5: host \"a.com:8080\" must not include a port"},
		{"host_ipv6_with_port", "Host(`[::1]:80`)", "rule \"Host(`[::1]:80`)\": offset 5: host \"[::1]:80\" must not include a port"},
		{"host_with_scheme", "Host(`https://a.com`)", "rule \"Host(`https://a.com`)\": offset 5: host \"https://a.com\" must not include a scheme"},
		{"host_inner_wildcard", "Host(`a.*.com`)", "rule \"Host(`a.*.com`)\": offset 5: host \"a.*.com\": a wildcard must be a whole leading label, as in *.example.com"},
		{"host_empty_label", "Host(`a..com`)", "rule \"Host(`a..com`)\": offset 5: invalid host \"a..com\""},
		{"path_without_slash", "Path(`api`)", "rule \"Path(`api`)\": offset 5: path \"api\" does not start with \"/\""},
		{"v2_path_template", "Path(`/u/{id:[0-9]+}`)", "rule \"Path(`/u/{id:[0-9]+}`)\": offset 5: v2 template \"{id:[0-9]+}\" is not supported in v3 rules: use PathRegexp"},
		{"v2_query_form", "Query(`a=b`)", "rule \"Query(`a=b`)\": offset 6: query key \"a=b\" contains \"=\": write Query(`a`, `b`)"},
		{"bad_client_ip", "ClientIP(`1.2.3`)", "rule \"ClientIP(`1.2.3`)\": offset 9: invalid IP address or CIDR \"1.2.3\""},
		{"invalid_utf8", "Host(`a`) \xff", `rule "Host(` + "`a`" + `) \xff": offset 10: invalid UTF-8 byte 0xff`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q): got no error; want %s", tt.expr, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.expr, got, tt.want)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *Error", err)
			}
			if re.Rule != tt.expr || re.Offset < 0 || re.Offset > len(tt.expr) {
				t.Errorf("Error{Rule: %q, Offset: %d} for %q", re.Rule, re.Offset, tt.expr)
			}
		})
	}
}
