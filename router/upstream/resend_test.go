package upstream

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// echoBackend answers "<name> <method> <body>" and counts its requests.
type echoBackend struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func newEcho(t testing.TB, name string) *echoBackend {
	t.Helper()
	e := &echoBackend{name: name}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", name, r.Method, body)
	}))
	t.Cleanup(e.Close)
	return e
}

// refusedURL is an address where nothing listens.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// liveBalancer balances over real URLs through a real transport.
func liveBalancer(t testing.TB, ctx context.Context, cfg BalancerConfig, urls ...string) *Balancer {
	t.Helper()
	tr, err := NewTransports().Get(TransportConfig{DialTimeout: time.Second, ResponseHeaderTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var servers []*Server
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, NewServer(u, 1, ForwardConfig{Transport: tr, PassHostHeader: true, Buffers: NewBufferPool(), Log: zerolog.Nop()}))
	}
	if cfg.Log.GetLevel() == zerolog.TraceLevel {
		cfg.Log = zerolog.Nop()
	}
	b, err := NewBalancer(ctx, servers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func do(t testing.TB, h http.Handler, method, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://app.test/x", rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRefusedConnectionGoesToAnotherServer: a request whose connection cannot be made was
// not sent, so it goes to another server whatever its method, body included, and the client
// never sees the failure.
func TestRefusedConnectionGoesToAnotherServer(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	for _, st := range []Strategy{StrategyWRR, StrategyP2C, StrategyLeastConn, StrategyHRW} {
		t.Run(st.String(), func(t *testing.T) {
			bal := liveBalancer(t, context.Background(), BalancerConfig{Strategy: st}, refusedURL(t), a.URL, refusedURL(t), b.URL)
			for i := 0; i < 100; i++ {
				method, body := "GET", ""
				if i%2 == 1 {
					method, body = "POST", fmt.Sprintf("order-%d", i)
				}
				w := do(t, bal, method, body, "X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))
				if w.Code != 200 || !strings.HasSuffix(w.Body.String(), " "+method+" "+body) {
					t.Fatalf("request %d (%s): %d %q; want 200 from a live server with the body", i, method, w.Code, w.Body)
				}
			}
		})
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Errorf("hits a=%d b=%d; both live servers should share the traffic", a.hits.Load(), b.hits.Load())
	}
}

// TestSentRequestIsNotResent: once a request may have reached a backend, the balancer does not
// send it again (that is the retry middleware's decision, for idempotent requests only).
func TestSentRequestIsNotResent(t *testing.T) {
	var dropped atomic.Int64
	dropper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dropped.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close() // the request arrived; no answer
	}))
	defer dropper.Close()
	good := newEcho(t, "good")
	bal := liveBalancer(t, context.Background(), BalancerConfig{}, dropper.URL, good.URL)
	for _, method := range []string{"POST", "GET"} {
		good.hits.Store(0)
		w := do(t, bal, method, "pay-once") // WRR: the first goes to the dropper
		if w.Code != http.StatusBadGateway || good.hits.Load() != 0 {
			t.Errorf("%s: got %d with %d requests on the other server; want 502 and none", method, w.Code, good.hits.Load())
		}
		do(t, bal, "GET", "") // the good server's turn
	}
	if dropped.Load() != 2 {
		t.Errorf("the dropping server saw %d requests; want 2", dropped.Load())
	}
}

func TestAttemptReportsWhatHappened(t *testing.T) {
	bal := liveBalancer(t, context.Background(), BalancerConfig{Passive: &PassiveConfig{Window: time.Minute, MaxFailures: 1}}, refusedURL(t))
	ctx, a := WithAttempt(context.Background())
	r := httptest.NewRequest("POST", "/", strings.NewReader("x")).WithContext(ctx)
	w := httptest.NewRecorder()
	bal.ServeHTTP(w, r)
	if w.Code != 502 || !a.NotSent() || a.NoServer() || a.Err() == nil || !IsNotSent(a.Err()) {
		t.Errorf("refused: %d notSent=%v noServer=%v err=%v; want 502, not sent", w.Code, a.NotSent(), a.NoServer(), a.Err())
	}
	// The refusal took the only server out: the next request is answered 503 at once.
	ctx, a = WithAttempt(context.Background())
	start := time.Now()
	w = httptest.NewRecorder()
	bal.ServeHTTP(w, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if w.Code != 503 || !a.NoServer() || time.Since(start) > 50*time.Millisecond {
		t.Errorf("no healthy server: %d noServer=%v in %v; want 503 at once", w.Code, a.NoServer(), time.Since(start))
	}
	if st := bal.Status()[0]; st.Up || !strings.Contains(st.Reason, "connection refused") {
		t.Errorf("status %+v; want down, with the reason", st)
	}
}

// TestStickyServerGoneIsReplaced: a client pinned to a server that stopped answering is
// served by another, and its cookie is rewritten to name that one.
func TestStickyServerGoneIsReplaced(t *testing.T) {
	a := newEcho(t, "a")
	dead := refusedURL(t)
	bal := liveBalancer(t, context.Background(), BalancerConfig{Service: "s", Sticky: &CookieConfig{Name: "lb"}}, dead, a.URL)
	w := do(t, bal, "GET", "", "Cookie", "lb="+bal.servers[0].cookie)
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "a ") {
		t.Fatalf("got %d %q; want a's answer", w.Code, w.Body)
	}
	if got := w.Header().Values("Set-Cookie"); len(got) != 1 || !strings.HasPrefix(got[0], "lb="+bal.servers[1].cookie+";") {
		t.Errorf("Set-Cookie %q; want one cookie naming server a", got)
	}
	w = do(t, bal, "GET", "", "Cookie", "lb="+bal.servers[1].cookie)
	if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("Set-Cookie %q for a client already pinned to the server that answered; want none", got)
	}
}

func TestPassiveHealthCheck(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "flaky")
	}))
	defer flaky.Close()
	good := newEcho(t, "good")
	status, _ := ParseStatusSet([]string{"500-599"})
	pc := &PassiveConfig{Window: 300 * time.Millisecond, MaxFailures: 3, Status: status}
	bal := liveBalancer(t, context.Background(), BalancerConfig{Strategy: StrategyWRR, Passive: pc}, flaky.URL, good.URL)
	var fails int
	for i := 0; i < 20; i++ {
		if do(t, bal, "GET", "").Code == 500 {
			fails++
		}
	}
	if fails != 3 {
		t.Errorf("%d requests failed; want exactly 3 (maxFailedAttempts) before the server is out", fails)
	}
	if st := bal.Status()[0]; st.Up || st.Reason != "answered 500" {
		t.Errorf("status %+v; want down: answered 500", st)
	}
	// After the cool-down the server is on probation: one more failure sends it back out.
	deadline := time.Now().Add(2 * time.Second)
	for !bal.Status()[0].Up && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fails = 0
	for i := 0; i < 10; i++ {
		if do(t, bal, "GET", "").Code == 500 {
			fails++
		}
	}
	if fails != 1 {
		t.Errorf("%d failures after the cool-down; want 1 (probation)", fails)
	}
	failing.Store(false)
	for !bal.Status()[0].Up && time.Now().Before(deadline.Add(time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	flakyHits := 0
	for i := 0; i < 10; i++ {
		if w := do(t, bal, "GET", ""); w.Body.String() == "flaky" {
			flakyHits++
		}
	}
	if flakyHits != 5 {
		t.Errorf("recovered server answered %d of 10; want its share, 5", flakyHits)
	}
}

// TestProbationTakesOneRequestAtATime: a server back from its cool-down is tested by one
// request at a time; while that request runs, the others go elsewhere. A failed test sends it
// back out for twice as long.
func TestProbationTakesOneRequestAtATime(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	pc := &PassiveConfig{Window: 20 * time.Millisecond, MaxFailures: 1}
	bal := liveBalancer(t, context.Background(), BalancerConfig{Passive: pc}, a.URL, b.URL)
	st := bal.servers[0].state
	st.failed(now(), pc, "test")
	waitFor(t, time.Second, "the cool-down to end", func() bool { return bal.Status()[0].Up })
	if ok, probe := st.claim(); !ok || !probe {
		t.Fatalf("claim on probation = %v, %v; want the probe", ok, probe)
	}
	for i := 0; i < 10; i++ {
		if w := do(t, bal, "GET", ""); !strings.HasPrefix(w.Body.String(), "b ") {
			t.Fatalf("request %d went to %q while a probe of a was running; want b", i, w.Body)
		}
	}
	st.endProbe()
	if w := do(t, bal, "GET", ""); !strings.HasPrefix(w.Body.String(), "a ") {
		t.Errorf("after the probe ended, got %q; want a (its turn)", w.Body)
	}
	if st.probation.Load() {
		t.Error("a success did not end the probation")
	}
	// Out, back on probation, and failing again: the second cool-down is twice the first.
	st.failed(now(), pc, "test")
	waitFor(t, time.Second, "the cool-down to end", func() bool { return bal.Status()[0].Up })
	before := now()
	if out, again := st.failed(before, pc, "test"); !out || !again {
		t.Fatalf("failure on probation: out=%v again=%v", out, again)
	}
	st.mu.Lock()
	got := time.Duration(st.coolDown)
	st.mu.Unlock()
	if got != 2*pc.Window {
		t.Errorf("second cool-down %v; want %v", got, 2*pc.Window)
	}
}

// TestReconnectProbe: after its cool-down a server that refused connections is probed with a
// connection in the background, and no request is sent to it until one succeeds.
func TestReconnectProbe(t *testing.T) {
	b := newEcho(t, "b")
	dead := refusedURL(t)
	pc := &PassiveConfig{Window: 20 * time.Millisecond, MaxFailures: 1}
	bal := liveBalancer(t, context.Background(), BalancerConfig{Passive: pc}, dead, b.URL)
	if w := do(t, bal, "GET", ""); w.Code != 200 {
		t.Fatalf("got %d; want b's answer", w.Code)
	}
	waitFor(t, time.Second, "a failed reconnection", func() bool {
		return strings.HasPrefix(bal.Status()[0].Reason, "reconnecting after the cool-down: ")
	})
	for i := 0; i < 20; i++ {
		if w := do(t, bal, "GET", ""); !strings.HasPrefix(w.Body.String(), "b ") {
			t.Fatalf("request %d: %q; want b while the other server is out", i, w.Body)
		}
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(dead, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	back := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "back") })}
	go back.Serve(ln)
	defer back.Close()
	waitFor(t, 2*time.Second, "the server to be probed back in", func() bool { return bal.Status()[0].Up })
	seen := false
	for i := 0; i < 4 && !seen; i++ {
		seen = do(t, bal, "GET", "").Body.String() == "back"
	}
	if !seen {
		t.Error("the server that came back got no request")
	}
}
