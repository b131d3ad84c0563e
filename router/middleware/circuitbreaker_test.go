package middleware

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCircuitBreakerTripsAndRecovers(t *testing.T) {
	mw := build(t, "circuitBreaker", labels(t, "circuitBreaker",
		"expression", "NetworkErrorRatio() > 0.5", "checkPeriod", "1s", "fallbackDuration", "10s", "recoveryDuration", "10s"))
	status, calls := http.StatusBadGateway, 0
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; w.WriteHeader(status) })).(*breakerHandler)
	now := time.Unix(1_700_000_000, 0)
	h.now = func() time.Time { return now }
	get := func() int { return serve(h, httptest.NewRequest("GET", "/", nil)).Code }

	if c := get(); c != 502 { // the first request is checked after it ran: the ratio is 1
		t.Fatalf("got %d", c)
	}
	if c := get(); c != 503 || calls != 1 {
		t.Fatalf("tripped: got %d after %d backend calls; want 503 after 1", c, calls)
	}
	status = http.StatusOK
	now = now.Add(9 * time.Second)
	if c := get(); c != 503 {
		t.Fatalf("still in fallback: got %d", c)
	}
	now = now.Add(2 * time.Second)
	// The first request after the fallback starts the recovery, as in Traefik; half way
	// through the 10 s recovery, about half of the requests get through.
	get()
	now = now.Add(5 * time.Second)
	passed := 0
	for i := 0; i < 100; i++ {
		if get() == 200 {
			passed++
		}
	}
	if passed < 40 || passed > 60 {
		t.Errorf("during recovery %d of 100 passed; want about half", passed)
	}
	now = now.Add(6 * time.Second)
	for i := 0; i < 10; i++ {
		if c := get(); c != 200 {
			t.Fatalf("recovered: got %d", c)
		}
	}
}

func TestCircuitBreakerResponseCode(t *testing.T) {
	mw := build(t, "circuitBreaker", labels(t, "circuitBreaker", "expression", "ResponseCodeRatio(500, 600, 0, 600) > 0.25", "responseCode", "529"))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	serve(h, httptest.NewRequest("GET", "/", nil))
	if c := serve(h, httptest.NewRequest("GET", "/", nil)).Code; c != 529 {
		t.Errorf("got %d; want the configured 529", c)
	}
}

func TestBreakerMetrics(t *testing.T) {
	m := &cbMetrics{}
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 100; i++ {
		code := 200
		if i%4 == 0 {
			code = 503
		}
		if i%10 == 0 {
			code = 502
		}
		m.record(code, time.Duration(i+1)*time.Millisecond, now.Add(time.Duration(i)*50*time.Millisecond))
	}
	if got := m.networkErrorRatio(); got != 0.10 {
		t.Errorf("network error ratio %v; want 0.10", got)
	}
	if got := m.responseCodeRatio(500, 600, 0, 600); got != 0.30 {
		t.Errorf("5xx ratio %v; want 0.30 (the 502s and the 503s)", got)
	}
	if got := m.responseCodeRatio(500, 600, 0, 0); got != 0 {
		t.Errorf("empty denominator: %v; want 0", got)
	}
	if got := m.latencyAtQuantileMS(50); math.Abs(got-50) > 2.5 {
		t.Errorf("p50 %v ms; want about 50", got)
	}
	if got := m.latencyAtQuantileMS(99); math.Abs(got-99) > 5 {
		t.Errorf("p99 %v ms; want about 99", got)
	}
	// Eleven seconds later the window has moved past all of it.
	m.record(200, time.Millisecond, now.Add(16*time.Second))
	if got := m.networkErrorRatio(); got != 0 {
		t.Errorf("old buckets still counted: %v", got)
	}
}

func TestLatencyBuckets(t *testing.T) {
	for _, us := range []uint64{0, 1, 63, 64, 65, 100, 1000, 12345, 1 << 20, 50_000_000} {
		got := latValue(latIndex(us))
		if us >= 64 && math.Abs(float64(got)-float64(us))/float64(us) > 0.04 {
			t.Errorf("%d µs lands in a bucket worth %d µs", us, got)
		}
		if us < 64 && got != us {
			t.Errorf("%d µs lands in a bucket worth %d µs", us, got)
		}
	}
}
