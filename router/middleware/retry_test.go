package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
)

// flaky plays the forwarder: for each attempt it reports to the client trace what happened
// on the network, then answers like the forwarder does.
type flaky struct {
	outcomes []string // per attempt: "refused", "sent-then-failed", "backend-502", "ok"
	bodies   []string
	calls    int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	outcome := f.outcomes[min(f.calls, len(f.outcomes)-1)]
	f.calls++
	tr := httptrace.ContextClientTrace(r.Context())
	if r.Body != nil && outcome != "refused" { // a refused connection never reads the body
		b, _ := io.ReadAll(r.Body)
		f.bodies = append(f.bodies, string(b))
	}
	switch outcome {
	case "refused":
		w.Header().Set("X-Attempt-Header", "leaked")
		w.WriteHeader(http.StatusBadGateway)
	case "sent-then-failed":
		tr.WroteHeaders()
		w.WriteHeader(http.StatusGatewayTimeout)
	case "backend-502":
		tr.WroteHeaders()
		tr.GotFirstResponseByte()
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "from the backend")
	default:
		tr.WroteHeaders()
		tr.GotFirstResponseByte()
		w.Header().Set("X-Ok", "1")
		_, _ = io.WriteString(w, "ok")
	}
}

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		body     string
		outcomes []string
		code     int
		calls    int
	}{
		{"refused_then_ok", "GET", "", []string{"refused", "ok"}, 200, 2},
		{"post_never_sent_is_retried", "POST", "", []string{"refused", "refused", "ok"}, 200, 3},
		{"post_sent_is_not_retried", "POST", "", []string{"sent-then-failed", "ok"}, 504, 1},
		{"get_sent_is_retried", "GET", "", []string{"sent-then-failed", "ok"}, 200, 2},
		{"backend_answer_is_never_retried", "GET", "", []string{"backend-502", "ok"}, 502, 1},
		{"gives_up_after_attempts", "GET", "", []string{"refused"}, 502, 3},
		{"put_body_replayed", "PUT", "payload", []string{"sent-then-failed", "ok"}, 200, 2},
		{"post_body_kept_when_not_sent", "POST", "payload", []string{"refused", "ok"}, 200, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{outcomes: tc.outcomes}
			h := build(t, "retry", labels(t, "retry", "attempts", "3"))(f)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			rec := serve(h, httptest.NewRequest(tc.method, "/", body))
			if rec.Code != tc.code || f.calls != tc.calls {
				t.Fatalf("got %d after %d attempts; want %d after %d", rec.Code, f.calls, tc.code, tc.calls)
			}
			if rec.Code == 200 && rec.Header().Get("X-Attempt-Header") != "" {
				t.Error("a withheld attempt's header leaked into the answer")
			}
			for i, b := range f.bodies {
				if b != tc.body {
					t.Errorf("attempt %d read body %q; want %q", i+1, b, tc.body)
				}
			}
		})
	}
}

func TestRetryDoesNotReplayAConsumedBody(t *testing.T) {
	// A large body is streamed, not held: once an attempt read it, there is no retry.
	big := strings.Repeat("x", maxRetryBody+1)
	f := &flaky{outcomes: []string{"sent-then-failed", "ok"}}
	h := build(t, "retry", labels(t, "retry", "attempts", "3"))(f)
	rec := serve(h, httptest.NewRequest("PUT", "/", strings.NewReader(big)))
	if rec.Code != 504 || f.calls != 1 {
		t.Errorf("got %d after %d attempts; want 504 after 1", rec.Code, f.calls)
	}
}

func TestRetryKeepsEachAttemptsRequestApart(t *testing.T) {
	// A later middleware that rewrites the request must see the original on every attempt.
	f := &flaky{outcomes: []string{"refused", "ok"}}
	var paths []string
	strip := build(t, "stripPrefix", labels(t, "stripPrefix", "prefixes", "/api"))
	h := build(t, "retry", labels(t, "retry", "attempts", "2"))(strip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		f.ServeHTTP(w, r)
	})))
	serve(h, httptest.NewRequest("GET", "/api/api/x", nil))
	if strings.Join(paths, " ") != "/api/x /api/x" {
		t.Errorf("paths seen %q", paths)
	}
}
