package upstream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeServers are servers that are never dialled: enough to test choices.
func fakeServers(weights ...int) []*Server {
	out := make([]*Server, len(weights))
	for i, w := range weights {
		out[i] = &Server{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("s%d", i)}, Weight: w}
	}
	return out
}

func balancer(t testing.TB, cfg BalancerConfig, weights ...int) *Balancer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := NewBalancer(ctx, fakeServers(weights...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func now() int64 { return time.Now().UnixNano() }

// counts picks n times and counts the choices by server index.
func counts(b *Balancer, n int, req func(i int) *http.Request) []int {
	c := make([]int, len(b.servers))
	for i := 0; i < n; i++ {
		if s := b.pick(req(i), now()); s != nil {
			c[s.idx]++
		}
	}
	return c
}

func anyReq(int) *http.Request { return httptest.NewRequest("GET", "/", nil) }

func TestWRRIsSmooth(t *testing.T) {
	b := balancer(t, BalancerConfig{}, 5, 1, 1)
	var got []string
	for i := 0; i < 14; i++ {
		got = append(got, b.pick(nil, now()).URL.Host)
	}
	if want := "s0 s0 s1 s0 s2 s0 s0 s0 s0 s1 s0 s2 s0 s0"; strings.Join(got, " ") != want {
		t.Errorf("got %s; want %s", strings.Join(got, " "), want)
	}
	if balancer(t, BalancerConfig{}).pick(nil, now()) != nil {
		t.Error("empty balancer returned a server")
	}
}

func TestDistribution(t *testing.T) {
	t.Run("wrr_is_exact", func(t *testing.T) {
		c := counts(balancer(t, BalancerConfig{}, 3, 1, 0), 4000, anyReq)
		if c[0] != 3000 || c[1] != 1000 || c[2] != 0 {
			t.Errorf("got %v; want [3000 1000 0] (weight 0 gets nothing)", c)
		}
	})
	t.Run("p2c_is_even_when_idle", func(t *testing.T) {
		c := counts(balancer(t, BalancerConfig{Strategy: StrategyP2C}, 1, 1, 1), 30000, anyReq)
		for i, n := range c {
			if math.Abs(float64(n)-10000) > 600 {
				t.Errorf("server %d got %d of 30000; want 10000±600 (%v)", i, n, c)
			}
		}
	})
	t.Run("p2c_avoids_the_busiest", func(t *testing.T) {
		b := balancer(t, BalancerConfig{Strategy: StrategyP2C}, 1, 1, 1)
		b.servers[0].state.inflight.Add(10)
		if c := counts(b, 3000, anyReq); c[0] != 0 || c[1] < 1300 || c[2] < 1300 {
			t.Errorf("got %v; the busy server must never win a pair, the others share", c)
		}
	})
	t.Run("leastconn_takes_the_least_loaded", func(t *testing.T) {
		b := balancer(t, BalancerConfig{Strategy: StrategyLeastConn}, 1, 1, 2)
		b.servers[0].state.inflight.Add(5)
		b.servers[2].state.inflight.Add(3) // 3 for weight 2 is lighter than 2 for weight 1
		if c := counts(b, 100, anyReq); c[1] != 100 {
			t.Errorf("got %v; want all on server 1", c)
		}
		b.servers[1].state.inflight.Add(2)
		if c := counts(b, 100, anyReq); c[2] != 100 {
			t.Errorf("got %v; want all on server 2 (1.5 per weight unit)", c)
		}
	})
	t.Run("leastconn_ties_go_round_robin", func(t *testing.T) {
		c := counts(balancer(t, BalancerConfig{Strategy: StrategyLeastConn}, 1, 1, 1), 300, anyReq)
		if c[0] != 100 || c[1] != 100 || c[2] != 100 {
			t.Errorf("got %v; want 100 each", c)
		}
	})
	t.Run("hrw_spreads_keys", func(t *testing.T) {
		c := counts(balancer(t, BalancerConfig{Strategy: StrategyHRW}, 1, 1, 1, 1), 8000, ipReq)
		for i, n := range c {
			if math.Abs(float64(n)-2000) > 250 {
				t.Errorf("server %d got %d of 8000 keys; want 2000±250 (%v)", i, n, c)
			}
		}
	})
	t.Run("hrw_follows_weights", func(t *testing.T) {
		c := counts(balancer(t, BalancerConfig{Strategy: StrategyHRW}, 3, 1), 8000, ipReq)
		if math.Abs(float64(c[0])-6000) > 300 {
			t.Errorf("got %v; want about 6000 and 2000", c)
		}
	})
}

func ipReq(i int) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:4000", i>>16&255, i>>8&255, i&255)
	return r
}

// TestHRWMovesOnlyTheChangedServersKeys is consistent hashing's promise: when a server goes
// down only its keys move, and when one is added only the keys it now wins move.
func TestHRWMovesOnlyTheChangedServersKeys(t *testing.T) {
	b := balancer(t, BalancerConfig{Strategy: StrategyHRW}, 1, 1, 1, 1)
	const n = 4000
	before := make([]int, n)
	for i := range before {
		before[i] = b.pick(ipReq(i), now()).idx
	}
	b.servers[2].state.activeDown.Store(true)
	b.active = true
	moved := 0
	for i := range before {
		got := b.pick(ipReq(i), now()).idx
		if before[i] != 2 && got != before[i] {
			t.Fatalf("key %d moved from server %d to %d though only server 2 went down", i, before[i], got)
		}
		if before[i] == 2 {
			moved++
		}
	}
	if moved < n/5 {
		t.Errorf("only %d keys were on server 2", moved)
	}
	// A fifth server, in a new generation: the same URLs keep the same keys.
	b5 := balancer(t, BalancerConfig{Strategy: StrategyHRW}, 1, 1, 1, 1, 1)
	toNew := 0
	for i := range before {
		got := b5.pick(ipReq(i), now()).idx
		switch {
		case got == 4:
			toNew++
		case got != before[i]:
			t.Fatalf("key %d moved from server %d to %d; only moves to the new server are allowed", i, before[i], got)
		}
	}
	if toNew < n/5-200 || toNew > n/5+200 {
		t.Errorf("%d of %d keys moved to the new server; want about a fifth", toNew, n)
	}
}

func TestHRWHashHeader(t *testing.T) {
	b := balancer(t, BalancerConfig{Strategy: StrategyHRW, HashHeader: "x-user"}, 1, 1, 1, 1, 1, 1, 1, 1)
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		r := ipReq(i) // a different address each time
		r.Header.Set("X-User", "alice")
		seen[b.pick(r, now()).idx] = true
	}
	if len(seen) != 1 {
		t.Errorf("one header value reached %d servers; want 1", len(seen))
	}
}

func TestStrategiesSkipDownServers(t *testing.T) {
	for _, st := range []Strategy{StrategyWRR, StrategyP2C, StrategyLeastConn, StrategyHRW} {
		t.Run(st.String(), func(t *testing.T) {
			b := balancer(t, BalancerConfig{Strategy: st, Passive: &PassiveConfig{Window: time.Minute, MaxFailures: 1}}, 1, 1, 1)
			b.servers[1].state.failed(now(), b.cfg.Passive, "test")
			if c := counts(b, 600, ipReq); c[1] != 0 || c[0] == 0 || c[2] == 0 {
				t.Errorf("got %v; want nothing on the down server and traffic on both others", c)
			}
			for _, s := range b.servers {
				s.state.failed(now(), b.cfg.Passive, "test")
			}
			if s := b.pick(ipReq(1), now()); s != nil || b.Healthy() {
				t.Errorf("picked %v with every server down; want nil and unhealthy", s)
			}
		})
	}
}

// TestPickDoesNotAllocate: choosing a server costs no allocation, whatever the strategy,
// with or without a sticky cookie.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, st := range []Strategy{StrategyWRR, StrategyP2C, StrategyLeastConn, StrategyHRW} {
		for _, sticky := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sticky=%v", st, sticky), func(t *testing.T) {
				cfg := BalancerConfig{Strategy: st, HashHeader: "X-User", Passive: &PassiveConfig{Window: time.Second, MaxFailures: 3}}
				if st != StrategyHRW {
					cfg.HashHeader = ""
				}
				if sticky {
					cfg.Sticky = &CookieConfig{Name: "lb"}
				}
				b := balancer(t, cfg, 1, 2, 3, 1, 1)
				r := ipReq(7)
				r.Header.Set("X-User", "bob")
				r.Header.Set("Cookie", "a=b; lb="+b.servers[3].cookie+"; c=d")
				if n := testing.AllocsPerRun(200, func() { b.pick(r, now()) }); n != 0 {
					t.Errorf("allocs per pick = %v; want 0", n)
				}
			})
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, st := range []Strategy{StrategyWRR, StrategyP2C, StrategyLeastConn, StrategyHRW} {
		b.Run(st.String(), func(b *testing.B) {
			bal := balancer(b, BalancerConfig{Strategy: st}, 1, 1, 1, 1, 1, 1, 1, 1)
			r := ipReq(7)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bal.pick(r, now())
				}
			})
		})
	}
}

func TestStickyCookie(t *testing.T) {
	b := balancer(t, BalancerConfig{Service: "app@file", Sticky: &CookieConfig{Secure: true, HTTPOnly: true, SameSite: "lax", MaxAge: 60}}, 1, 1, 0)
	if b.sticky.name != DefaultCookieName("app@file") || len(b.sticky.name) != 6 || b.sticky.name[0] != '_' {
		t.Errorf("default cookie name %q; want _ and 5 hex digits", b.sticky.name)
	}
	line := b.sticky.setCookie[2]
	for _, want := range []string{b.sticky.name + "=" + b.servers[2].cookie, "Path=/", "Max-Age=60", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(line, want) {
			t.Errorf("Set-Cookie %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "s2") {
		t.Errorf("Set-Cookie %q shows the server's address", line)
	}
	r := anyReq(0)
	r.Header.Set("Cookie", b.sticky.name+"="+b.servers[2].cookie)
	for i := 0; i < 5; i++ {
		if s := b.pick(r, now()); s.idx != 2 {
			t.Fatalf("pick %d went to %d; want the pinned server 2, even at weight 0", i, s.idx)
		}
	}
	b.servers[2].state.passiveUntil.Store(now() + int64(time.Minute))
	if s := b.pick(r, now()); s.idx == 2 {
		t.Error("a down sticky server was still chosen")
	}
	if _, err := NewBalancer(context.Background(), fakeServers(1), BalancerConfig{Sticky: &CookieConfig{SameSite: "sometimes"}}); err == nil {
		t.Error("sameSite=sometimes was accepted")
	}
}

func TestParseStrategyAndStatus(t *testing.T) {
	for in, want := range map[string]Strategy{"": StrategyWRR, "WRR": StrategyWRR, "p2c": StrategyP2C, "leastconn": StrategyLeastConn, "hrw": StrategyHRW} {
		if got, err := ParseStrategy(in); err != nil || got != want {
			t.Errorf("ParseStrategy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseStrategy("random"); err == nil || !strings.Contains(err.Error(), "wrr, p2c, leastconn, hrw") {
		t.Errorf("unknown strategy: %v", err)
	}
	s, err := ParseStatusSet([]string{"500-502", "404,418"})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]bool{404: true, 418: true, 500: true, 502: true, 503: false, 200: false, 700: false, -1: false} {
		if s.Has(code) != want {
			t.Errorf("Has(%d) = %v; want %v", code, !want, want)
		}
	}
	for _, bad := range []string{"5xx", "600", "502-500", "99"} {
		if _, err := ParseStatusSet([]string{bad}); err == nil {
			t.Errorf("status %q was accepted", bad)
		}
	}
}
