package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	runChildRole() // this test binary is also the backend the harness starts
	os.Exit(m.Run())
}

// TestBenchSmoke runs every scenario of the harness for about a second with tiny counts, so
// the harness cannot rot: each peer must serve requests without errors and the report must
// name them. It asserts nothing about performance. The tools come from `make bench-tools`;
// without them it fails, except with -short.
func TestBenchSmoke(t *testing.T) {
	cfg := defaultConfig()
	if err := need(toolsFor(cfg)...); err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	cfg.runs, cfg.duration, cfg.warmup = 1, time.Second, 0
	cfg.threads, cfg.conns, cfg.h2Conns, cfg.h2Streams = 1, 4, 2, 2
	cfg.idleConns, cfg.settle = 100, 200*time.Millisecond
	cfg.reloadSizes, cfg.changes, cfg.baseline = []int{10, 200}, 1, 300*time.Millisecond
	cfg.quiet = !testing.Verbose()
	cfg.out = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"http", "https", "h2"} {
		for _, p := range cfg.peers {
			m := rep.med[sc][p.name]
			// A request unanswered within wrk's 2 s says the machine is busy, not that the
			// harness is broken; any other error fails.
			if m[mRequests] < 1 || m[mErrors] != m[mTimeouts] || m[mCPU] <= 0 || m[mP99] <= 0 || m[mPeakRSS] <= 0 {
				t.Errorf("%s, %s: requests %v, errors %v (timeouts %v), CPU %v µs/req, p99 %v ms, peak %v MB; want requests, no error, and CPU, p99 and RSS measured",
					sc, p.name, m[mRequests], m[mErrors], m[mTimeouts], m[mCPU], m[mP99], m[mPeakRSS])
			}
		}
	}
	for _, sc := range []string{"idle", "idle_tls"} {
		for _, p := range cfg.peers {
			if _, ok := rep.get(sc, p.name, mIdleBytes); !ok {
				t.Errorf("%s, %s: no bytes per connection", sc, p.name)
			}
		}
	}
	for _, sc := range []string{"reload_file", "reload_docker"} {
		for _, n := range cfg.reloadSizes {
			q := rep.med[sc+"/"+strconv.Itoa(n)]["wharf"]
			l := rep.med[sc+"_load/"+strconv.Itoa(n)]["wharf"]
			if q[mWall] <= 0 || l[mLoadReqs] < 1 || l[mFailed] != 0 {
				t.Errorf("%s, %d routers: wall %v ms, %v requests under load with %v failed; want a rebuild and requests, none failed",
					sc, n, q[mWall], l[mLoadReqs], l[mFailed])
			}
		}
	}
	for _, name := range []string{"bench.md", "bench.csv", "bench-runs.csv"} {
		b, err := os.ReadFile(cfg.out + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"wharf", "nginx", "haproxy"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s does not mention %s:\n%s", name, want, b)
			}
		}
	}
}
