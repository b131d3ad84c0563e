package middleware

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

func fromAddr(remote, xff string) *http.Request {
	r := httptest.NewRequest("GET", "http://app.test/", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	return r
}

func TestIPAllowList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kv     []string
		remote string
		xff    string
		code   int
	}{
		{"peer_in_range", []string{"sourceRange", "10.0.0.0/8,192.168.1.7"}, "10.1.2.3:5000", "", 200},
		{"peer_single_address", []string{"sourceRange", "10.0.0.0/8,192.168.1.7"}, "192.168.1.7:5000", "", 200},
		{"peer_outside", []string{"sourceRange", "10.0.0.0/8"}, "11.0.0.1:5000", "", 403},
		{"forwarded_for_ignored_without_strategy", []string{"sourceRange", "10.0.0.0/8"}, "11.0.0.1:5000", "10.0.0.1", 403},
		{"ipv4_mapped_peer_matched_as_ipv4", []string{"sourceRange", "10.0.0.0/8"}, "[::ffff:10.0.0.1]:5000", "", 200},
		{"ipv6_range", []string{"sourceRange", "2001:db8::/32"}, "[2001:db8::1]:443", "", 200},
		{"depth_1_is_rightmost", []string{"sourceRange", "10.0.0.0/8", "ipStrategy.depth", "1"}, "172.16.0.1:1", "1.1.1.1, 10.0.0.5", 200},
		{"depth_2", []string{"sourceRange", "10.0.0.0/8", "ipStrategy.depth", "2"}, "172.16.0.1:1", "1.1.1.1, 10.0.0.5", 403},
		{"depth_beyond_list_refused", []string{"sourceRange", "0.0.0.0/0", "ipStrategy.depth", "3"}, "172.16.0.1:1", "1.1.1.1, 10.0.0.5", 403},
		{"excluded_ips_skip_proxies", []string{"sourceRange", "1.1.1.1", "ipStrategy.excludedIPs", "10.0.0.0/8"}, "172.16.0.1:1", "1.1.1.1, 10.0.0.5, 10.0.0.6", 200},
		{"custom_reject_status", []string{"sourceRange", "10.0.0.0/8", "rejectStatusCode", "404"}, "11.0.0.1:5000", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := build(t, "ipAllowList", labels(t, "ipAllowList", tc.kv...))(okHandler)
			if rec := serve(h, fromAddr(tc.remote, tc.xff)); rec.Code != tc.code {
				t.Errorf("got %d; want %d", rec.Code, tc.code)
			}
		})
	}
}

func TestClientIPStrategyDoesNotAllocate(t *testing.T) {
	s := &ipStrategy{depth: 2}
	r := fromAddr("10.0.0.1:1", "1.1.1.1, 2.2.2.2, 3.3.3.3")
	if n := testing.AllocsPerRun(100, func() { s.clientIP(r) }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("burst_then_429_with_retry_after", func(t *testing.T) {
		h := build(t, "rateLimit", labels(t, "rateLimit", "average", "1", "period", "1m", "burst", "3"))(okHandler)
		for i := 0; i < 3; i++ {
			if rec := serve(h, fromAddr("10.0.0.1:1", "")); rec.Code != 200 {
				t.Fatalf("request %d: got %d; want 200 within the burst", i+1, rec.Code)
			}
		}
		rec := serve(h, fromAddr("10.0.0.1:1", ""))
		ra, _ := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != 429 || ra < 1 || ra > 60 {
			t.Errorf("got %d Retry-After %q; want 429 and 1..60 s", rec.Code, rec.Header().Get("Retry-After"))
		}
		if rec := serve(h, fromAddr("10.0.0.2:1", "")); rec.Code != 200 {
			t.Errorf("another client: got %d; want its own bucket", rec.Code)
		}
	})
	t.Run("per_header_source", func(t *testing.T) {
		h := build(t, "rateLimit", labels(t, "rateLimit", "average", "1", "period", "1m", "sourceCriterion.requestHeaderName", "X-Api-Key"))(okHandler)
		req := func(key string) int {
			r := fromAddr("10.0.0.1:1", "")
			r.Header.Set("X-Api-Key", key)
			return serve(h, r).Code
		}
		if a, b, c := req("a"), req("a"), req("b"); a != 200 || b != 429 || c != 200 {
			t.Errorf("got %d %d %d; want 200 429 200", a, b, c)
		}
	})
	t.Run("per_host_source", func(t *testing.T) {
		h := build(t, "rateLimit", labels(t, "rateLimit", "average", "1", "period", "1m", "sourceCriterion.requestHost", "true"))(okHandler)
		req := func(host, remote string) int {
			r := fromAddr(remote, "")
			r.Host = host
			return serve(h, r).Code
		}
		if a, b, c := req("a.test", "1.1.1.1:1"), req("a.test:443", "2.2.2.2:1"), req("b.test", "1.1.1.1:1"); a != 200 || b != 429 || c != 200 {
			t.Errorf("got %d %d %d; want 200 429 200", a, b, c)
		}
	})
	t.Run("slightly_early_request_is_delayed_not_refused", func(t *testing.T) {
		h := build(t, "rateLimit", labels(t, "rateLimit", "average", "10", "burst", "1"))(okHandler)
		start := time.Now()
		serve(h, fromAddr("10.0.0.1:1", ""))
		// 60 ms into a 100 ms interval: early by less than half an interval, so the
		// request is held until its token is there (it ends at least 100 ms in).
		time.Sleep(60 * time.Millisecond)
		rec := serve(h, fromAddr("10.0.0.1:1", ""))
		if rec.Code != 200 || time.Since(start) < 95*time.Millisecond {
			t.Errorf("got %d after %v; want 200 once the interval has passed", rec.Code, time.Since(start))
		}
	})
	t.Run("average_zero_is_no_limit", func(t *testing.T) {
		h := build(t, "rateLimit", labels(t, "rateLimit", "average", "0"))(okHandler)
		for i := 0; i < 100; i++ {
			if rec := serve(h, fromAddr("10.0.0.1:1", "")); rec.Code != 200 {
				t.Fatalf("got %d", rec.Code)
			}
		}
	})
}

func TestRateLimitForgetsIdleSources(t *testing.T) {
	mw := build(t, "rateLimit", labels(t, "rateLimit", "average", "1000", "burst", "1"))
	h := mw(okHandler).(*rateLimitHandler)
	now := time.Now()
	for i := 0; i < 3000; i++ {
		h.bucket(sourceKey{s: strconv.Itoa(i)}, now)
	}
	h.bucket(sourceKey{s: "late"}, now.Add(time.Hour))
	for i := 0; i < 3000; i++ {
		h.bucket(sourceKey{s: "x" + strconv.Itoa(i)}, now.Add(time.Hour))
	}
	if n := len(h.buckets); n > 3100 {
		t.Errorf("%d buckets kept; idle ones should have been dropped", n)
	}
}

func TestInFlightReq(t *testing.T) {
	h := build(t, "inFlightReq", labels(t, "inFlightReq", "amount", "2", "sourceCriterion.ipStrategy.depth", "0"))
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	slow := h(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	}))
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- serve(slow, fromAddr("10.0.0.1:1", "")).Code }()
	}
	<-started
	<-started
	if rec := serve(slow, fromAddr("10.0.0.1:1", "")); rec.Code != 429 {
		t.Errorf("third concurrent request: got %d; want 429", rec.Code)
	}
	go func() { started <- struct{}{} }()
	close(release)
	wg.Wait()
	for i := 0; i < 2; i++ {
		if c := <-codes; c != 200 {
			t.Errorf("got %d; want 200", c)
		}
	}
	if rec := serve(slow, fromAddr("10.0.0.1:1", "")); rec.Code != 200 {
		t.Errorf("after release: got %d; want 200", rec.Code)
	}
	if n := len(h(okHandler).(*inFlightHandler).counts); n != 0 {
		t.Errorf("%d sources still counted; want 0", n)
	}
}

func TestRateLimitStaysBoundedUnderAFloodOfSources(t *testing.T) {
	h := build(t, "rateLimit", labels(t, "rateLimit", "average", "1", "period", "1h"))(okHandler).(*rateLimitHandler)
	now := time.Now()
	for i := 0; i < 3*maxSources; i++ {
		h.bucket(sourceKey{s: strconv.Itoa(i)}, now)
	}
	if n := len(h.buckets); n > maxSources {
		t.Errorf("%d buckets; want at most %d", n, maxSources)
	}
}
