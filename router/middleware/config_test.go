package middleware

import (
	"strings"
	"testing"
)

// Every configuration problem is found when the table is compiled, and its message names
// where it was written (container and label, or file:line:col), the option, and what is
// wrong.
func TestBadOptionsAreReportedWithTheirSource(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		kv        []string
		want      []string
	}{
		{"unknown_option_suggests", "stripPrefix", []string{"prefixs", "/a"}, []string{`label "wharf.http.middlewares.m.stripprefix.prefixs"`, `unknown key "prefixs" (did you mean "prefixes"?)`}},
		{"bad_cidr", "ipAllowList", []string{"sourceRange", "10.0.0.0/8,10.0.0/33"}, []string{`container "app"`, `label "wharf.http.middlewares.m.ipallowlist.sourcerange"`, `"10.0.0/33" is neither an IP address nor a CIDR range`}},
		{"bad_regex", "stripPrefixRegex", []string{"regex", "/(a"}, []string{`label "wharf.http.middlewares.m.stripprefixregex.regex"`, "missing closing )"}},
		{"not_a_number", "rateLimit", []string{"average", "lots"}, []string{`label "wharf.http.middlewares.m.ratelimit.average"`, "not an integer"}},
		{"bad_duration", "retry", []string{"attempts", "3", "initialInterval", "soon"}, []string{"initialinterval", "not a duration"}},
		{"unknown_hash_format", "basicAuth", []string{"users", "admin:secret"}, []string{`label "wharf.http.middlewares.m.basicauth.users"`, `user "admin"`, "not in a format wharf accepts"}},
		{"double_dollar_outside_compose", "basicAuth", []string{"users", "admin:$$2y$$05$$abc"}, []string{`"$$"`, "Docker Compose"}},
		{"bad_expression_offset", "circuitBreaker", []string{"expression", "NetworkErrorRatio() >"}, []string{"offset 21", "ends too early"}},
		{"unknown_function", "circuitBreaker", []string{"expression", "NetworkErrorRate() > 0.5"}, []string{`unknown function "NetworkErrorRate"`}},
		{"exclusive_source_criteria", "rateLimit", []string{"average", "1", "sourceCriterion.requestHost", "true", "sourceCriterion.requestHeaderName", "X-Key"}, []string{"only one of"}},
		{"exclusive_content_types", "compress", []string{"excludedContentTypes", "text/html", "includedContentTypes", "text/css"}, []string{"cannot be used together"}},
		{"unknown_encoding", "compress", []string{"encodings", "gzip,lz4"}, []string{`unknown encoding "lz4"`}},
		{"compress_false", "compress", []string{"false"}, []string{`label "wharf.http.middlewares.m.compress"`, "cannot be switched off"}},
		{"forward_auth_address", "forwardAuth", []string{"address", "authelia:9091"}, []string{`label "wharf.http.middlewares.m.forwardauth.address"`, "http:// or https:// URL"}},
		{"origin_list_or_null", "headers", []string{"accessControlAllowOrigin", "origin-list-or-null"}, []string{"accessControlAllowOriginList"}},
		{"bad_header_value", "headers", []string{"customResponseHeaders.X-A", "a\x01b"}, []string{"control character"}},
		{"errors_needs_service", "errors", []string{"status", "500-599"}, []string{"service is empty"}},
		{"errors_bad_range", "errors", []string{"status", "500-99", "service", "s"}, []string{`"500-99" is not a status`}},
		{"inflight_amount", "inFlightReq", []string{"amount", "0"}, []string{"amount must be 1 or more"}},
		{"redirect_scheme_port", "redirectScheme", []string{"scheme", "https", "port", "http"}, []string{"port must be a number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildErr(tc.typ, labels(t, tc.typ, tc.kv...))
			if err == nil {
				t.Fatal("built; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestFileErrorsNameFileLineAndPath(t *testing.T) {
	_, err := buildErr("ipAllowList", fileOpts(t, "ipAllowList:\n  sourceRange:\n    - 10.0.0.1\n    - nope\n"))
	if err == nil {
		t.Fatal("built; want an error")
	}
	want := `dyn.yml:2:3: http.middlewares.m@docker.ipAllowList.sourceRange: "nope" is neither an IP address nor a CIDR range`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant it to contain %s", err, want)
	}
}

func TestSecretsAreNotRepeatedInErrors(t *testing.T) {
	const hash = "$2y$05$notavalidhashbutsecretlookingxxxxxxxxxxxxxxxxxxxxxxx"
	_, err := buildErr("basicAuth", labels(t, "basicAuth", "users", "admin:"+hash))
	if err == nil {
		t.Fatal("built; want an error")
	}
	if strings.Contains(err.Error(), "secretlooking") {
		t.Errorf("the error repeats the hash: %v", err)
	}
}

func TestUnknownTypes(t *testing.T) {
	for name, want := range map[string]string{
		"stripprefx":        `unknown middleware type "stripprefx" (did you mean "stripPrefix"?)`,
		"passTLSClientCert": `"passTLSClientCert" is Traefik's, and wharf does not support it`,
	} {
		if _, ok := Lookup(name); ok {
			t.Fatalf("%s: found", name)
		}
		if got := UnknownTypeError(name).Error(); !strings.Contains(got, want) {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	for _, n := range []string{"STRIPPREFIX", "ipwhitelist", "forwardauth", "Compress"} {
		if _, ok := Lookup(n); !ok {
			t.Errorf("%s: not found (lookup is case-insensitive)", n)
		}
	}
}
