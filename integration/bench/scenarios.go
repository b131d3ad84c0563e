package main

import (
	"context"
	"fmt"
	"time"
)

// result is one measurement: one peer in one run of one scenario (or one reload).
type result struct {
	scenario string
	peer     string
	run      int
	metrics  map[string]float64
}

// Metric names, as they appear in the CSV.
const (
	mCPU        = "cpu_us_per_req"
	mUser       = "user_us_per_req"
	mSys        = "sys_us_per_req"
	mBackendCPU = "backend_cpu_us_per_req"
	mRPS        = "req_per_s"
	mP50        = "p50_ms"
	mP99        = "p99_ms"
	mPeakRSS    = "peak_rss_mb"
	mRequests   = "requests"
	mErrors     = "errors"
	mTimeouts   = "timeouts"
	mIdleBytes  = "bytes_per_conn"
	mIdleConns  = "conns"
)

// loadScenario is a load scenario: http, https or h2.
type loadScenario struct {
	name string
	run  func(ctx context.Context, p *peer, d time.Duration, measured bool) (loadResult, error)
}

func (b *bench) loadScenarios(cfg config) []loadScenario {
	wrk := func(secure bool) func(context.Context, *peer, time.Duration, bool) (loadResult, error) {
		return func(ctx context.Context, p *peer, d time.Duration, _ bool) (loadResult, error) {
			url := "http://" + p.http + "/"
			if secure {
				url = "https://" + p.https + "/"
			}
			return runWrk(ctx, wrkArgs(cfg.threads, cfg.conns, d, url))
		}
	}
	h2 := func(ctx context.Context, p *peer, d time.Duration, measured bool) (loadResult, error) {
		log := ""
		if measured {
			log = tempLog(b.dir)
		}
		return runH2load(ctx, h2loadArgs(cfg.threads, cfg.h2Conns, cfg.h2Streams, d, log, "https://"+p.https+"/"), log)
	}
	all := []loadScenario{{"http", wrk(false)}, {"https", wrk(true)}, {"h2", h2}}
	var out []loadScenario
	for _, s := range all {
		if cfg.wants(s.name) {
			out = append(out, s)
		}
	}
	return out
}

// runLoad runs every load scenario against peers that stay up for all of them: for each
// scenario, cfg.runs rounds, each round every peer once, in an order that rotates by round.
func (b *bench) runLoad(ctx context.Context, cfg config, rec func(result)) error {
	scenarios := b.loadScenarios(cfg)
	if len(scenarios) == 0 {
		return nil
	}
	be, peers, err := b.startAll(cfg.peers)
	if err != nil {
		return err
	}
	defer stopAll(be, peers)
	for _, sc := range scenarios {
		for run := 0; run < cfg.runs; run++ {
			for _, p := range rotate(peers, run) {
				r, err := b.measureLoad(ctx, cfg, sc, p, be)
				if err != nil {
					return fmt.Errorf("%s, %s, run %d: %w", sc.name, p.spec.name, run+1, err)
				}
				r.run = run + 1
				b.logf("%-6s run %d  %-10s %s", sc.name, run+1, p.spec.name, brief(r))
				rec(r)
			}
		}
	}
	return nil
}

// measureLoad warms the peer up, then reads its CPU and the backend's around one load window.
func (b *bench) measureLoad(ctx context.Context, cfg config, sc loadScenario, p, be *peer) (result, error) {
	if cfg.warmup > 0 {
		if _, err := sc.run(ctx, p, cfg.warmup, false); err != nil {
			return result{}, err
		}
	}
	resetPeak(p.pid())
	c0, b0 := treeCPU(p.pid()), treeCPU(be.pid())
	lr, err := sc.run(ctx, p, cfg.duration, true)
	if err != nil {
		return result{}, err
	}
	c1, b1 := treeCPU(p.pid()), treeCPU(be.pid())
	mem := treeMemory(p.pid())
	if p.exited() {
		return result{}, fmt.Errorf("%s exited during the run:\n%s", p.spec.name, p.out)
	}
	if lr.requests == 0 {
		return result{}, errNoRequests
	}
	if lr.errors > 0 {
		// wrk counts a request unanswered after 2 s as a timeout: on a loaded machine, that
		// is usually what these are.
		b.logf("%s, %s: %d errors: %s", sc.name, p.spec.name, lr.errors, lr.detail)
	}
	cpu, bcpu := c1.sub(c0), b1.sub(b0)
	n := float64(lr.requests)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / n }
	return result{scenario: sc.name, peer: p.spec.name, metrics: map[string]float64{
		mCPU: us(cpu.total()), mUser: us(cpu.user), mSys: us(cpu.sys), mBackendCPU: us(bcpu.total()),
		mRPS: lr.rps(), mP50: ms(lr.p50), mP99: ms(lr.p99), mPeakRSS: float64(mem.peak) / (1 << 20),
		mRequests: n, mErrors: float64(lr.errors), mTimeouts: float64(lr.timeouts),
	}}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func brief(r result) string {
	m := r.metrics
	if _, ok := m[mIdleBytes]; ok {
		return fmt.Sprintf("%8.0f B/conn", m[mIdleBytes])
	}
	return fmt.Sprintf("%6.1f µs/req (user %5.1f sys %5.1f, backend %5.1f)  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  peak %5.1f MB  errors %.0f",
		m[mCPU], m[mUser], m[mSys], m[mBackendCPU], m[mRPS], m[mP50], m[mP99], m[mPeakRSS], m[mErrors])
}

// rotate returns peers starting at index run (mod len), so that no peer always goes first.
func rotate(peers []*peer, run int) []*peer {
	k := run % len(peers)
	return append(append([]*peer(nil), peers[k:]...), peers[:k]...)
}

// startAll starts the backend and every peer in front of it.
func (b *bench) startAll(specs []peerSpec) (*peer, []*peer, error) {
	be, err := b.startBackend()
	if err != nil {
		return nil, nil, err
	}
	var peers []*peer
	for _, s := range specs {
		p, err := b.start(s, be)
		if err != nil {
			stopAll(be, peers)
			return nil, nil, err
		}
		peers = append(peers, p)
	}
	return be, peers, nil
}

func stopAll(be *peer, peers []*peer) {
	for _, p := range peers {
		if p != be {
			p.stop()
		}
	}
	be.stop()
}

// runIdle measures the resident memory of idle keep-alive connections: for each round, fresh
// processes (so memory freed by an earlier scenario is not reused and hidden), then per
// peer: RSS, open cfg.idleConns connections with one request each, let them settle, RSS.
func (b *bench) runIdle(ctx context.Context, cfg config, rec func(result)) error {
	for _, secure := range []bool{false, true} {
		name := "idle"
		if secure {
			name = "idle_tls"
		}
		if !cfg.wants(name) {
			continue
		}
		for run := 0; run < cfg.runs; run++ {
			be, peers, err := b.startAll(cfg.peers)
			if err != nil {
				return err
			}
			for _, p := range rotate(peers, run) {
				r, err := b.measureIdle(ctx, cfg, p, secure)
				if err != nil {
					stopAll(be, peers)
					return fmt.Errorf("%s, %s, run %d: %w", name, p.spec.name, run+1, err)
				}
				r.scenario, r.run = name, run+1
				b.logf("%-8s run %d  %-10s %s", name, run+1, p.spec.name, brief(r))
				rec(r)
			}
			stopAll(be, peers)
		}
	}
	return nil
}

func (b *bench) measureIdle(ctx context.Context, cfg config, p *peer, secure bool) (result, error) {
	addr := p.http
	if secure {
		addr = p.https
	}
	// A few connections first, so one-time setup (pools, the first TLS session) is not
	// counted per connection.
	warm, err := openIdle(ctx, addr, secure, 8)
	if err != nil {
		return result{}, err
	}
	closeAll(warm)
	time.Sleep(cfg.settle)
	m0 := treeMemory(p.pid())
	conns, err := openIdle(ctx, addr, secure, cfg.idleConns)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	time.Sleep(cfg.settle)
	m1 := treeMemory(p.pid())
	if p.exited() {
		return result{}, fmt.Errorf("%s exited:\n%s", p.spec.name, p.out)
	}
	return result{peer: p.spec.name, metrics: map[string]float64{
		mIdleBytes: float64(m1.rss-m0.rss) / float64(cfg.idleConns),
		mIdleConns: float64(cfg.idleConns),
		mPeakRSS:   float64(m1.rss) / (1 << 20),
	}}, nil
}
