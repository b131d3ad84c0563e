package middleware

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestErrorPages(t *testing.T) {
	var pageReq *http.Request
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageReq = r
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK) // the page service's own status is not what the client gets
		_, _ = io.WriteString(w, "<h1>page for "+r.URL.RequestURI()+"</h1>")
	})
	var asked string
	mw, err := buildEnv(t, "errors", labels(t, "errors", "status", "500-599,404,418", "service", "pages", "query", "/{status}.html?from={url}&orig={originalStatus}",
		"statusRewrites.418", "404"), func(e *Env) {
		e.Service = func(name string) (http.Handler, error) { asked = name; return pages, nil }
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked != "pages@docker" {
		t.Errorf("service looked up as %q; want it qualified with the declaring provider", asked)
	}
	for _, tc := range []struct {
		name    string
		status  int
		code    int
		body    string
		pageURI string
	}{
		{"server_error_replaced_status_kept", 502, 502, "<h1>page for /502.html?from=http%3A%2F%2Fapp.test%2Fx%3Fy%3D1&orig=502</h1>", "/502.html?from=http%3A%2F%2Fapp.test%2Fx%3Fy%3D1&orig=502"},
		{"not_found_replaced", 404, 404, "<h1>page for /404.html", ""},
		{"rewritten_status", 418, 404, "<h1>page for /404.html", ""},
		{"other_status_passes", 401, 401, "backend says 401", ""},
		{"success_passes", 200, 200, "backend says 200", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "16")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, "backend says "+itoa(tc.status))
			})
			req := httptest.NewRequest("POST", "http://app.test/x?y=1", strings.NewReader("form"))
			rec := serve(mw(backend), req)
			if rec.Code != tc.code || !strings.HasPrefix(rec.Body.String(), tc.body) {
				t.Fatalf("got %d %q; want %d %q", rec.Code, rec.Body.String(), tc.code, tc.body)
			}
			if tc.pageURI != "" {
				if pageReq.Method != "GET" || pageReq.URL.RequestURI() != tc.pageURI || pageReq.Host != "app.test" {
					t.Errorf("page request %s %s host %s", pageReq.Method, pageReq.URL.RequestURI(), pageReq.Host)
				}
				if rec.Header().Get("Content-Type") != "text/html" {
					t.Errorf("the backend's headers leaked: %v", rec.Header())
				}
			}
		})
	}
	t.Run("broken_service_fails_the_middleware", func(t *testing.T) {
		_, err := buildEnv(t, "errors", labels(t, "errors", "status", "500", "service", "nope@file"), func(e *Env) {
			e.Service = func(string) (http.Handler, error) { return nil, errors.New("does not exist") }
		})
		if err == nil || !strings.Contains(err.Error(), `service "nope@file": does not exist`) {
			t.Errorf("got %v", err)
		}
	})
}

func TestChain(t *testing.T) {
	built := map[string]Middleware{
		"strip@docker": build(t, "stripPrefix", labels(t, "stripPrefix", "prefixes", "/api")),
		"add@file":     build(t, "addPrefix", labels(t, "addPrefix", "prefix", "/v2")),
	}
	var asked []string
	env := func(e *Env) {
		e.Middleware = func(name string) (Middleware, error) {
			asked = append(asked, name)
			if m, ok := built[name]; ok {
				return m, nil
			}
			return nil, errors.New("does not exist")
		}
	}
	mw, err := buildEnv(t, "chain", labels(t, "chain", "middlewares", "strip,add@file"), env)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(mw(okHandler), httptest.NewRequest("GET", "/api/users", nil)); rec.Body.String() != "/v2/users" {
		t.Errorf("got %q; want strip then add", rec.Body.String())
	}
	if strings.Join(asked, " ") != "strip@docker add@file" {
		t.Errorf("looked up %q", asked)
	}
	_, err = buildEnv(t, "chain", labels(t, "chain", "middlewares", "strip,auth"), env)
	if err == nil || !strings.Contains(err.Error(), `middleware "auth@docker": does not exist`) {
		t.Errorf("got %v", err)
	}
}

func TestContentType(t *testing.T) {
	htmlNoType := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // what the forwarder does when the backend sent none
		_, _ = io.WriteString(w, "<html><body>hi</body></html>")
	})
	t.Run("detects_when_on", func(t *testing.T) {
		rec := serve(build(t, "contentType", labels(t, "contentType", "true"))(htmlNoType), httptest.NewRequest("GET", "/", nil))
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("auto_detect_false_leaves_it", func(t *testing.T) {
		rec := serve(build(t, "contentType", labels(t, "contentType", "autoDetect", "false"))(htmlNoType), httptest.NewRequest("GET", "/", nil))
		if ct := rec.Header().Get("Content-Type"); ct != "" {
			t.Errorf("Content-Type %q; want none", ct)
		}
	})
	t.Run("backend_type_kept", func(t *testing.T) {
		rec := serve(build(t, "contentType", fileOpts(t, "contentType: {}\n"))(app(map[string]string{"Content-Type": "text/plain"}, 0, "<html></html>")), httptest.NewRequest("GET", "/", nil))
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q", ct)
		}
	})
}

func TestBuffering(t *testing.T) {
	var gotLen int64
	var gotTE []string
	echoBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotLen, gotTE = r.ContentLength, r.TransferEncoding
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Len", itoa(len(b)))
		_, _ = w.Write(b)
		_ = http.NewResponseController(w).Flush() // ignored: the response is held
	})
	t.Run("request_gets_a_length", func(t *testing.T) {
		h := build(t, "buffering", labels(t, "buffering", "memRequestBodyBytes", "4"))(echoBody)
		req := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader("0123456789")))
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
		rec := serve(h, req)
		if gotLen != 10 || gotTE != nil || rec.Body.String() != "0123456789" || rec.Header().Get("Content-Length") != "10" || rec.Flushed {
			t.Errorf("backend saw length %d TE %v; client got %q, length %q, flushed %v", gotLen, gotTE, rec.Body.String(), rec.Header().Get("Content-Length"), rec.Flushed)
		}
	})
	t.Run("request_over_limit_is_413", func(t *testing.T) {
		h := build(t, "buffering", labels(t, "buffering", "maxRequestBodyBytes", "5"))(echoBody)
		req := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader("0123456789")))
		req.ContentLength = -1
		if rec := serve(h, req); rec.Code != 413 {
			t.Errorf("got %d; want 413", rec.Code)
		}
	})
	t.Run("response_over_limit_is_500", func(t *testing.T) {
		h := build(t, "buffering", labels(t, "buffering", "maxResponseBodyBytes", "5"))(echoBody)
		if rec := serve(h, httptest.NewRequest("POST", "/", strings.NewReader("0123456789"))); rec.Code != 500 {
			t.Errorf("got %d; want 500", rec.Code)
		}
	})
	t.Run("spills_to_disk_and_cleans_up", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("TMPDIR", dir)
		h := build(t, "buffering", labels(t, "buffering", "memRequestBodyBytes", "4", "memResponseBodyBytes", "4"))(echoBody)
		big := strings.Repeat("z", 100_000)
		if rec := serve(h, httptest.NewRequest("POST", "/", strings.NewReader(big))); rec.Body.String() != big {
			t.Errorf("body changed on the way (%d bytes)", rec.Body.Len())
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
	t.Run("retry_expression", func(t *testing.T) {
		calls := 0
		h := build(t, "buffering", labels(t, "buffering", "retryExpression", "IsNetworkError() && Attempts() < 3"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			b, _ := io.ReadAll(r.Body)
			if calls < 3 {
				w.WriteHeader(502)
				return
			}
			_, _ = w.Write(b)
		}))
		rec := serve(h, httptest.NewRequest("PUT", "/", strings.NewReader("again")))
		if rec.Code != 200 || rec.Body.String() != "again" || calls != 3 {
			t.Errorf("got %d %q after %d calls", rec.Code, rec.Body.String(), calls)
		}
	})
}
