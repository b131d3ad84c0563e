package middleware

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// backendHeaders answers like a typical app: its own Server, X-Powered-By and frame options.
var backendHeaders = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "app/1.0")
	w.Header().Set("X-Powered-By", "PHP")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("X-Saw-Script", r.Header.Get("X-Script-Name"))
	w.Header().Set("X-Saw-Host", r.Host)
	w.Header().Set("X-Saw-Cookie", r.Header.Get("Cookie"))
	_, _ = w.Write([]byte("hello"))
})

func tlsReq(target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.TLS = &tls.ConnectionState{}
	return r
}

// n8n's documented label set, word for word (with the deprecated ssl* options).
func TestHeadersN8nLabelSet(t *testing.T) {
	mw := build(t, "headers", labels(t, "headers",
		"SSLRedirect", "true",
		"STSSeconds", "315360000",
		"browserXSSFilter", "true",
		"contentTypeNosniff", "true",
		"forceSTSHeader", "true",
		"SSLHost", "example.com",
		"STSIncludeSubdomains", "true",
		"STSPreload", "true",
	))
	rec := serve(mw(backendHeaders), tlsReq("https://n8n.example.com/"))
	for k, want := range map[string]string{
		"Strict-Transport-Security": "max-age=315360000; includeSubDomains; preload",
		"X-Xss-Protection":          "1; mode=block",
		"X-Content-Type-Options":    "nosniff",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if rec.Code != 200 || body(rec) != "hello" {
		t.Errorf("got %d %q", rec.Code, body(rec))
	}
	// sslRedirect with sslHost: plain HTTP goes to https on sslHost.
	rec = serve(mw(backendHeaders), httptest.NewRequest("GET", "http://n8n.example.com/x?y=1", nil))
	if rec.Code != 301 || rec.Header().Get("Location") != "https://example.com/x?y=1" {
		t.Errorf("plain HTTP: got %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   []string
		req  *http.Request
		want map[string]string // response headers; "" means absent
	}{
		{"custom_request_and_response", []string{"customRequestHeaders.X-Script-Name", "test", "customResponseHeaders.X-Custom", "value"},
			httptest.NewRequest("GET", "/", nil), map[string]string{"X-Saw-Script": "test", "X-Custom": "value"}},
		{"empty_value_removes_backend_header", []string{"customResponseHeaders.Server", "", "customResponseHeaders.X-Powered-By", ""},
			httptest.NewRequest("GET", "/", nil), map[string]string{"Server": "", "X-Powered-By": ""}},
		{"empty_request_value_removes_client_header", []string{"customRequestHeaders.Cookie", ""},
			func() *http.Request {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Cookie", "a=b")
				return r
			}(), map[string]string{"X-Saw-Cookie": ""}},
		{"host_override", []string{"customRequestHeaders.Host", "internal.svc"}, httptest.NewRequest("GET", "http://public.test/", nil), map[string]string{"X-Saw-Host": "internal.svc"}},
		{"security_overrides_backend", []string{"frameDeny", "true", "referrerPolicy", "no-referrer", "contentSecurityPolicy", "default-src 'self'", "permissionsPolicy", "camera=()"},
			httptest.NewRequest("GET", "/", nil), map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'self'", "Permissions-Policy": "camera=()"}},
		{"custom_frame_options_wins", []string{"frameDeny", "true", "customFrameOptionsValue", "SAMEORIGIN"}, httptest.NewRequest("GET", "/", nil), map[string]string{"X-Frame-Options": "SAMEORIGIN"}},
		{"custom_can_remove_security_header", []string{"frameDeny", "true", "customResponseHeaders.X-Frame-Options", ""}, httptest.NewRequest("GET", "/", nil), map[string]string{"X-Frame-Options": ""}},
		{"sts_only_over_tls", []string{"stsSeconds", "60"}, httptest.NewRequest("GET", "http://a/", nil), map[string]string{"Strict-Transport-Security": ""}},
		{"sts_over_tls", []string{"stsSeconds", "60"}, tlsReq("https://a/"), map[string]string{"Strict-Transport-Security": "max-age=60"}},
		{"sts_behind_tls_proxy", []string{"stsSeconds", "60", "sslProxyHeaders.X-Forwarded-Proto", "https"},
			func() *http.Request {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("X-Forwarded-Proto", "https")
				return r
			}(), map[string]string{"Strict-Transport-Security": "max-age=60"}},
		{"sts_off_in_development", []string{"stsSeconds", "60", "forceSTSHeader", "true", "isDevelopment", "true"}, tlsReq("https://a/"), map[string]string{"Strict-Transport-Security": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(build(t, "headers", labels(t, "headers", tc.kv...))(backendHeaders), tc.req)
			for k, want := range tc.want {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q; want %q", k, got, want)
				}
			}
		})
	}
}

func TestHeadersAllowedHosts(t *testing.T) {
	mw := build(t, "headers", labels(t, "headers", "allowedHosts", "app.test", "hostsProxyHeaders", "X-Forwarded-Host"))
	for _, tc := range []struct {
		host, fwd string
		code      int
	}{{"app.test", "", 200}, {"APP.test:8080", "", 200}, {"evil.test", "", 400}, {"internal", "app.test", 200}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		if tc.fwd != "" {
			r.Header.Set("X-Forwarded-Host", tc.fwd)
		}
		if rec := serve(mw(backendHeaders), r); rec.Code != tc.code {
			t.Errorf("host %q fwd %q: got %d; want %d", tc.host, tc.fwd, rec.Code, tc.code)
		}
	}
}

func TestCORS(t *testing.T) {
	mw := build(t, "headers", labels(t, "headers",
		"accessControlAllowMethods", "GET,OPTIONS,PUT",
		"accessControlAllowHeaders", "Content-Type,Authorization",
		"accessControlAllowOriginList", "https://app.test,https://admin.test",
		"accessControlAllowOriginListRegex", `^https://[a-z0-9]+\.preview\.test$`,
		"accessControlAllowCredentials", "true",
		"accessControlExposeHeaders", "X-Total",
		"accessControlMaxAge", "100",
		"addVaryHeader", "true",
	))
	calls := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; w.Header().Set("Vary", "Accept-Encoding") })
	preflight := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/api", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PUT")
		return serve(mw(next), r)
	}
	t.Run("preflight_answered_by_proxy", func(t *testing.T) {
		rec := preflight("https://app.test")
		want := map[string]string{
			"Access-Control-Allow-Origin": "https://app.test", "Access-Control-Allow-Methods": "GET,OPTIONS,PUT",
			"Access-Control-Allow-Headers": "Content-Type,Authorization", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age": "100", "Vary": "Origin",
		}
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s = %q; want %q", k, got, v)
			}
		}
		if rec.Code != 200 || calls != 0 {
			t.Errorf("got %d, backend called %d times; want 200 and 0", rec.Code, calls)
		}
	})
	t.Run("preflight_from_unknown_origin_has_no_allow_origin", func(t *testing.T) {
		if got := preflight("https://evil.test").Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("allow origin %q; want none", got)
		}
	})
	t.Run("regex_origin_echoed", func(t *testing.T) {
		if got := preflight("https://pr42.preview.test").Header().Get("Access-Control-Allow-Origin"); got != "https://pr42.preview.test" {
			t.Errorf("allow origin %q", got)
		}
	})
	t.Run("actual_request_reaches_backend_with_cors_headers", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/api", nil)
		r.Header.Set("Origin", "https://admin.test")
		rec := serve(mw(next), r)
		if calls != 1 || rec.Header().Get("Access-Control-Allow-Origin") != "https://admin.test" ||
			rec.Header().Get("Access-Control-Expose-Headers") != "X-Total" || rec.Header().Values("Vary")[1] != "Origin" {
			t.Errorf("calls %d, headers %v", calls, rec.Header())
		}
	})
	t.Run("options_without_preflight_headers_is_forwarded", func(t *testing.T) {
		before := calls
		serve(mw(next), httptest.NewRequest("OPTIONS", "/api", nil))
		if calls != before+1 {
			t.Error("a plain OPTIONS request was answered by the proxy")
		}
	})
}

func TestHeadersStreamAndEmptyResponses(t *testing.T) {
	mw := build(t, "headers", labels(t, "headers", "customResponseHeaders.X-A", "1"))
	t.Run("no_body_no_write_header", func(t *testing.T) {
		rec := serve(mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), httptest.NewRequest("GET", "/", nil))
		if rec.Header().Get("X-A") != "1" {
			t.Error("header missing on an empty response")
		}
	})
	t.Run("flush_before_write", func(t *testing.T) {
		rec := serve(mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = http.NewResponseController(w).Flush()
		})), httptest.NewRequest("GET", "/", nil))
		if rec.Header().Get("X-A") != "1" || !rec.Flushed {
			t.Errorf("header %q flushed %v", rec.Header().Get("X-A"), rec.Flushed)
		}
	})
}
