package upstream

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// healthBackend has a health endpoint that can be made to fail, and records each probe.
type healthBackend struct {
	*httptest.Server
	failing atomic.Bool
	probes  atomic.Int64
	mu      sync.Mutex
	last    *http.Request
}

func newHealthBackend(t testing.TB) *healthBackend {
	t.Helper()
	h := &healthBackend{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			h.probes.Add(1)
			h.mu.Lock()
			h.last = r
			h.mu.Unlock()
			if h.failing.Load() {
				http.Error(w, "failing", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		default:
			io.WriteString(w, "hello")
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestActiveHealthCheck(t *testing.T) {
	a, b := newHealthBackend(t), newHealthBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := &HealthCheckConfig{Path: "/health", Interval: 20 * time.Millisecond, Timeout: time.Second}
	bal := liveBalancer(t, ctx, BalancerConfig{Service: "s", HealthCheck: hc}, a.URL, b.URL)
	b.failing.Store(true)
	waitFor(t, 2*time.Second, "b to be marked down", func() bool { return !bal.Status()[1].Up })
	if st := bal.Status()[1]; !strings.Contains(st.Reason, "/health: status 503") {
		t.Errorf("reason %q; want the probe and its status", st.Reason)
	}
	for i := 0; i < 20; i++ {
		if w := do(t, bal, "GET", ""); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	b.failing.Store(false)
	waitFor(t, 2*time.Second, "b to come back", func() bool { return bal.Status()[1].Up })
	cancel()
	time.Sleep(50 * time.Millisecond) // let a probe in flight end
	n := a.probes.Load()
	time.Sleep(100 * time.Millisecond)
	if a.probes.Load() != n {
		t.Error("probes continued after the generation's context ended")
	}
}

func TestHealthCheckOptions(t *testing.T) {
	h := newHealthBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status, _ := ParseStatusSet([]string{"200"})
	hc := &HealthCheckConfig{Path: "/moved?deep=1", Method: "HEAD", Hostname: "health.internal", Interval: time.Hour,
		Headers: http.Header{"X-Probe": {"wharf"}}, Status: status, FollowRedirects: true}
	bal := liveBalancer(t, ctx, BalancerConfig{HealthCheck: hc}, h.URL+"/base")
	waitFor(t, 2*time.Second, "a probe", func() bool { return h.probes.Load() > 0 })
	h.mu.Lock()
	r := h.last
	h.mu.Unlock()
	if r.Method != "HEAD" || r.Host != "health.internal" || r.Header.Get("X-Probe") != "wharf" {
		t.Errorf("probe %s host %q X-Probe %q; want HEAD, health.internal, wharf", r.Method, r.Host, r.Header.Get("X-Probe"))
	}
	waitFor(t, time.Second, "status", func() bool { return bal.Status()[0].Up })

	// The check can go to another port than the traffic.
	port := h.Listener.Addr().(*net.TCPAddr).Port
	hc3 := &HealthCheckConfig{Path: "/health", Port: port, Interval: time.Hour}
	bal3 := liveBalancer(t, ctx, BalancerConfig{HealthCheck: hc3}, refusedURL(t))
	waitFor(t, 2*time.Second, "a probe on the health port", func() bool { return h.probes.Load() > 1 })
	if !bal3.Status()[0].Up {
		t.Errorf("checked on port %d: %+v; want up", port, bal3.Status()[0])
	}

	// Without following redirects, the 302 is the answer, and only 200 is healthy here.
	hc2 := *hc
	hc2.FollowRedirects = false
	bal2 := liveBalancer(t, ctx, BalancerConfig{HealthCheck: &hc2}, h.URL)
	waitFor(t, 2*time.Second, "the 302 to count as a failure", func() bool { return !bal2.Status()[0].Up })
	if got := bal2.Status()[0].Reason; !strings.Contains(got, "status 302") {
		t.Errorf("reason %q; want status 302", got)
	}
}

// TestUnhealthyIntervalBringsAServerBackSooner: a down server is probed at the unhealthy
// interval, a healthy one at the (much longer) interval.
func TestUnhealthyIntervalBringsAServerBackSooner(t *testing.T) {
	h := newHealthBackend(t)
	h.failing.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := &HealthCheckConfig{Path: "/health", Interval: time.Hour, UnhealthyInterval: 20 * time.Millisecond}
	bal := liveBalancer(t, ctx, BalancerConfig{HealthCheck: hc}, h.URL)
	waitFor(t, 2*time.Second, "down", func() bool { return !bal.Status()[0].Up })
	waitFor(t, 2*time.Second, "several probes while down", func() bool { return h.probes.Load() >= 3 })
	h.failing.Store(false)
	waitFor(t, 2*time.Second, "up", func() bool { return bal.Status()[0].Up })
	n := h.probes.Load()
	time.Sleep(100 * time.Millisecond)
	if h.probes.Load() != n {
		t.Errorf("probes went on at the unhealthy interval after the server came back")
	}
}

// TestHealthOutlivesAGeneration: a new table generation that keeps the service starts from
// the known state (no flap to "healthy", no extra probe), and a generation that drops it stops
// its checks and frees its state.
func TestHealthOutlivesAGeneration(t *testing.T) {
	h := newHealthBackend(t)
	h.failing.Store(true)
	store := NewHealthStore()
	hc := &HealthCheckConfig{Path: "/health", Interval: time.Hour, UnhealthyInterval: 300 * time.Millisecond}
	ctx1, cancel1 := context.WithCancel(context.Background())
	gen1 := liveBalancer(t, ctx1, BalancerConfig{Service: "s", HealthCheck: hc, Health: store}, h.URL)
	waitFor(t, 2*time.Second, "down", func() bool { return !gen1.Status()[0].Up })
	probes := h.probes.Load()

	ctx2, cancel2 := context.WithCancel(context.Background())
	gen2 := liveBalancer(t, ctx2, BalancerConfig{Service: "s", HealthCheck: hc, Health: store}, h.URL)
	cancel1() // the swap
	if st := gen2.Status()[0]; st.Up {
		t.Fatal("the new generation starts with the server up; want the known state: down")
	}
	if w := do(t, gen2, "GET", ""); w.Code != 503 {
		t.Errorf("request on the new generation: %d; want 503", w.Code)
	}
	time.Sleep(100 * time.Millisecond)
	if got := h.probes.Load(); got != probes {
		t.Errorf("%d probes right after the reload; want none before the unhealthy interval", got-probes)
	}
	h.failing.Store(false)
	waitFor(t, 2*time.Second, "the new generation's checker to bring it back", func() bool { return gen2.Status()[0].Up })

	cancel2() // a reload that removes the service
	waitFor(t, time.Second, "the state to be forgotten", func() bool { return store.Len() == 0 })
}

// grpcHealthServer answers grpc.health.v1.Health/Check over h2c with the given status.
func grpcHealthServer(t testing.TB, status *atomic.Int32) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.URL.Path != "/grpc.health.v1.Health/Check" || r.Header.Get("Content-Type") != "application/grpc" {
			http.Error(w, "not a grpc health check", http.StatusBadRequest)
			return
		}
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		msg := []byte{0x08, byte(status.Load())}
		frame := make([]byte, 5, 7)
		binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
		w.Write(append(frame, msg...))
		w.Header().Set("Grpc-Status", "0")
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestGRPCHealthCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(2) // NOT_SERVING
	s := grpcHealthServer(t, &status)
	h2c, err := NewTransports().Get(TransportConfig{H2C: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := &HealthCheckConfig{GRPC: true, Interval: 20 * time.Millisecond, H2C: h2c}
	bal := liveBalancer(t, ctx, BalancerConfig{HealthCheck: hc, Log: zerolog.Nop()}, s.URL)
	waitFor(t, 2*time.Second, "NOT_SERVING to mark the server down", func() bool { return !bal.Status()[0].Up })
	if r := bal.Status()[0].Reason; !strings.Contains(r, "serving status 2") {
		t.Errorf("reason %q", r)
	}
	status.Store(1) // SERVING
	waitFor(t, 2*time.Second, "SERVING to bring it back", func() bool { return bal.Status()[0].Up })
}
