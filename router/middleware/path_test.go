package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// echo answers with the path, raw path and the headers a path middleware sets.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Path", r.URL.Path)
	w.Header().Set("X-Uri", r.RequestURI)
	w.Header().Set("X-Got-Prefix", r.Header.Get("X-Forwarded-Prefix"))
	w.Header().Set("X-Got-Replaced", r.Header.Get("X-Replaced-Path"))
})

func TestPathRewrites(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		kv        []string
		target    string
		path, uri string
		prefix    string
		replaced  string
	}{
		{"strip_prefix_sets_forwarded_prefix", "stripPrefix", []string{"prefixes", "/api"}, "/api/users?q=1", "/users", "/users?q=1", "/api", ""},
		{"strip_prefix_whole_segments_only", "stripPrefix", []string{"prefixes", "/api"}, "/apix/users", "/apix/users", "/apix/users", "", ""},
		{"strip_prefix_to_root", "stripPrefix", []string{"prefixes", "/api/"}, "/api", "/", "/", "/api", ""},
		{"strip_prefix_first_match_of_list", "stripPrefix", []string{"prefixes", "/a,/a/b"}, "/a/b/c", "/b/c", "/b/c", "/a", ""},
		{"strip_prefix_regex", "stripPrefixRegex", []string{"regex", "/users/[0-9]+"}, "/users/42/profile", "/profile", "/profile", "/users/42", ""},
		{"strip_prefix_regex_only_at_start", "stripPrefixRegex", []string{"regex", "/[0-9]+"}, "/x/42/y", "/x/42/y", "/x/42/y", "", ""},
		{"add_prefix", "addPrefix", []string{"prefix", "/v2"}, "/users?q=1", "/v2/users", "/v2/users?q=1", "", ""},
		{"replace_path_keeps_original", "replacePath", []string{"path", "/health"}, "/anything?x=1", "/health", "/health?x=1", "", "/anything"},
		{"replace_path_escaped", "replacePath", []string{"path", "/a%20b"}, "/x", "/a b", "/a%20b", "", "/x"},
		{"replace_path_regex_groups", "replacePathRegex", []string{"regex", "^/foo/(.*)", "replacement", "/bar/$1"}, "/foo/baz", "/bar/baz", "/bar/baz", "", "/foo/baz"},
		{"replace_path_regex_no_match", "replacePathRegex", []string{"regex", "^/foo/(.*)", "replacement", "/bar/$1"}, "/other", "/other", "/other", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := build(t, tc.typ, labels(t, tc.typ, tc.kv...))(echo)
			rec := serve(h, httptest.NewRequest("GET", tc.target, nil))
			got := [4]string{rec.Header().Get("X-Path"), rec.Header().Get("X-Uri"), rec.Header().Get("X-Got-Prefix"), rec.Header().Get("X-Got-Replaced")}
			want := [4]string{tc.path, tc.uri, tc.prefix, tc.replaced}
			if got != want {
				t.Errorf("got path, uri, prefix, replaced = %q; want %q", got, want)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		kv        []string
		method    string
		target    string
		xfp       string
		code      int
		location  string
	}{
		{"scheme_http_to_https", "redirectScheme", []string{"scheme", "https"}, "GET", "http://app.test/x?y=1", "", 302, "https://app.test/x?y=1"},
		{"scheme_permanent_get_is_301", "redirectScheme", []string{"scheme", "https", "permanent", "true"}, "GET", "http://app.test/", "", 301, "https://app.test/"},
		{"scheme_permanent_post_is_308", "redirectScheme", []string{"scheme", "https", "permanent", "true"}, "POST", "http://app.test/", "", 308, "https://app.test/"},
		{"scheme_temporary_post_is_307", "redirectScheme", []string{"scheme", "https"}, "POST", "http://app.test/", "", 307, "https://app.test/"},
		{"scheme_drops_port", "redirectScheme", []string{"scheme", "https"}, "GET", "http://app.test:8080/", "", 302, "https://app.test/"},
		{"scheme_sets_port", "redirectScheme", []string{"scheme", "https", "port", "8443"}, "GET", "http://app.test:8080/", "", 302, "https://app.test:8443/"},
		{"scheme_default_port_left_out", "redirectScheme", []string{"scheme", "https", "port", "443"}, "GET", "http://app.test/", "", 302, "https://app.test/"},
		{"scheme_already_https_behind_proxy_passes", "redirectScheme", []string{"scheme", "https"}, "GET", "http://app.test/", "https", 200, ""},
		{"scheme_ipv6_host", "redirectScheme", []string{"scheme", "https"}, "GET", "http://[::1]:80/", "", 302, "https://[::1]/"},
		{"regex_with_groups", "redirectRegex", []string{"regex", "^http://localhost/(.*)", "replacement", "http://mydomain/${1}"}, "GET", "http://localhost/a/b", "", 302, "http://mydomain/a/b"},
		{"regex_permanent", "redirectRegex", []string{"regex", "^http://www\\.(.*)", "replacement", "http://$1", "permanent", "true"}, "GET", "http://www.app.test/x", "", 301, "http://app.test/x"},
		{"regex_no_match_passes", "redirectRegex", []string{"regex", "^http://localhost/(.*)", "replacement", "http://x/$1"}, "GET", "http://other/a", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := build(t, tc.typ, labels(t, tc.typ, tc.kv...))(okHandler)
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.xfp != "" {
				req.Header.Set("X-Forwarded-Proto", tc.xfp)
			}
			rec := serve(h, req)
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
				t.Errorf("got %d %q; want %d %q", rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
	t.Run("scheme_on_tls_passes", func(t *testing.T) {
		h := build(t, "redirectScheme", labels(t, "redirectScheme", "scheme", "https"))(okHandler)
		req := httptest.NewRequest("GET", "https://app.test/x", nil)
		if rec := serve(h, req); rec.Code != 200 {
			t.Errorf("got %d; want 200 (already https)", rec.Code)
		}
	})
}
