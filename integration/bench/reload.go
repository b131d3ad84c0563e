package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/provider/docker"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// Reload metrics.
const (
	mRouters      = "routers"
	mTook         = "took_ms"       // wharf's own "took": compile and swap
	mWall         = "wall_ms"       // from the file write (or the start of Convert) to the new route answering
	mReloadCPU    = "cpu_ms"        // CPU used over that window, without load
	mConvert      = "convert_ms"    // docker: labels to configuration
	mMerge        = "merge_ms"      // docker: aggregator merge and compare
	mCompile      = "compile_ms"    // docker: router.Compile and swap
	mP99Base      = "p99_base_ms"   // p99 of the paced load before the change
	mP99During    = "p99_during_ms" // p99 of requests that overlapped the rebuild
	mDuring       = "requests_during"
	mFailedDuring = "failed_during"
	mFailed       = "failed" // failed requests of the whole paced load
	mLoadReqs     = "load_requests"
)

// reloadLoad is the paced load that runs while tables are rebuilt: 8 connections, 2,000
// requests per second in all, bounded by count as well as by time.
func reloadLoad(url string, d time.Duration) *paced {
	const workers, interval = 8, 4 * time.Millisecond
	return &paced{url: url, host: benchHost, workers: workers, interval: interval,
		max: int(d/interval)*workers + workers}
}

// reloadDynamic is n routers, each with its own service, plus the route under load and the
// probe router, whose rule is the one change: Host(`probe-<gen>.test`).
func reloadDynamic(n, gen int, backend string, cf certFiles) string {
	var s strings.Builder
	s.WriteString("http:\n  routers:\n")
	fmt.Fprintf(&s, "    bench:\n      rule: Host(`%s`)\n      service: bench\n", benchHost)
	fmt.Fprintf(&s, "    probe:\n      rule: Host(`probe-%d.test`)\n      service: bench\n", gen)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "    r%d:\n      rule: Host(`r%d.test`)\n      service: s%d\n", i, i, i)
	}
	s.WriteString("  services:\n")
	fmt.Fprintf(&s, "    bench:\n      loadBalancer:\n        servers:\n          - url: http://%s\n", backend)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "    s%d:\n      loadBalancer:\n        servers:\n          - url: http://%s\n", i, backend)
	}
	s.WriteString(tlsDynamic(cf))
	return s.String()
}

// writeAtomic replaces path the way editors and config tools do: a temporary file, renamed.
func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// runReloadFile runs the real wharf on a dynamic file of n routers for each size, changes
// one router cfg.changes times without load (wall time, wharf's "took", wharf's CPU), then
// cfg.changes times under a paced load (latency during the rebuild, failures).
func (b *bench) runReloadFile(ctx context.Context, cfg config, rec func(result)) error {
	be, err := b.startBackend()
	if err != nil {
		return err
	}
	defer be.stop()
	for _, n := range cfg.reloadSizes {
		if err := b.reloadFileSize(ctx, cfg, be, n, rec); err != nil {
			return fmt.Errorf("reload_file, %d routers: %w", n, err)
		}
	}
	return nil
}

func (b *bench) reloadFileSize(ctx context.Context, cfg config, be *peer, n int, rec func(result)) error {
	gen := 0
	p, err := b.startWharf(peerSpec{name: "wharf", kind: kindWharf}, reloadDynamic(n, gen, be.http, b.cert))
	if err != nil {
		return err
	}
	defer p.stop()
	if err := waitServing(p); err != nil {
		return err
	}
	probe := &http.Client{Timeout: 5 * time.Second}
	change := func() (reloadTiming, error) {
		gen++
		before := p.wharf.appliedCount()
		c0 := treeCPUPrecise(p.pid())
		t0 := time.Now()
		if err := writeAtomic(p.wharf.dynamic, reloadDynamic(n, gen, be.http, b.cert)); err != nil {
			return reloadTiming{}, err
		}
		host := fmt.Sprintf("probe-%d.test", gen)
		deadline := t0.Add(60 * time.Second)
		for !get(ctx, probe, "http://"+p.http+"/", host) {
			if time.Now().After(deadline) || p.exited() {
				return reloadTiming{}, fmt.Errorf("the changed router did not answer within 60s; log:\n%s", p.out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t := reloadTiming{from: t0, to: time.Now(), cpu: treeCPUPrecise(p.pid()) - c0}
		// The log line is written right after the swap; give the reader a moment.
		for i := 0; i < 200 && p.wharf.appliedCount() == before; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		if a := p.wharf.appliedSince(before); len(a) > 0 {
			t.took, t.routers = a[len(a)-1].took, a[len(a)-1].routers
		}
		return t, nil
	}
	for k := 0; k < cfg.changes; k++ {
		time.Sleep(cfg.settle)
		t, err := change()
		if err != nil {
			return err
		}
		r := result{scenario: "reload_file", peer: "wharf", run: k + 1, metrics: map[string]float64{
			mRouters: float64(n), mTook: ms(t.took), mWall: ms(t.to.Sub(t.from)), mReloadCPU: ms(t.cpu)}}
		b.logf("reload_file %5d routers, change %d: took %7.1f ms, write to served %7.1f ms, CPU %7.1f ms",
			n, k+1, r.metrics[mTook], r.metrics[mWall], r.metrics[mReloadCPU])
		rec(r)
	}
	return b.reloadUnderLoad(ctx, cfg, "reload_file", "http://"+p.http+"/", n, func() (reloadTiming, error) { return change() }, rec)
}

// reloadTiming is one rebuild as seen from outside.
type reloadTiming struct {
	from, to time.Time
	took     time.Duration
	cpu      time.Duration
	routers  int
	convert  time.Duration
	merge    time.Duration
	compile  time.Duration
}

// reloadUnderLoad runs a paced load, lets it settle for a baseline, makes cfg.changes changes
// a little apart, and records the latency of the requests that overlapped each rebuild.
func (b *bench) reloadUnderLoad(ctx context.Context, cfg config, scenario, url string, n int,
	change func() (reloadTiming, error), rec func(result)) error {
	gap := max(cfg.settle, 300*time.Millisecond)
	budget := cfg.baseline + time.Duration(cfg.changes)*(gap+10*time.Second)
	load := reloadLoad(url, budget)
	lctx, stop := context.WithTimeout(ctx, budget)
	defer stop()
	done := make(chan struct{})
	go func() { load.run(lctx); close(done) }()
	start := time.Now()
	time.Sleep(cfg.baseline)
	// The first requests open their connections; the baseline starts after them.
	_, _, p99Base := load.window(start.Add(min(250*time.Millisecond, cfg.baseline/2)), time.Now())
	var windows []reloadTiming
	for k := 0; k < cfg.changes; k++ {
		t, err := change()
		if err != nil {
			stop()
			<-done
			return err
		}
		windows = append(windows, t)
		time.Sleep(gap)
	}
	stop()
	<-done
	total, failed := load.totals()
	for k, t := range windows {
		during, failedDuring, p99 := load.window(t.from, t.to)
		r := result{scenario: scenario + "_load", peer: "wharf", run: k + 1, metrics: map[string]float64{
			mRouters: float64(n), mWall: ms(t.to.Sub(t.from)), mP99Base: ms(p99Base), mP99During: ms(p99),
			mDuring: float64(during), mFailedDuring: float64(failedDuring), mFailed: float64(failed), mLoadReqs: float64(total)}}
		b.logf("%s %5d routers, change %d under load: %7.1f ms, p99 %6.2f ms during (%d requests, %d failed), %6.2f ms before; %d of %d requests failed in all",
			scenario, n, k+1, r.metrics[mWall], ms(p99), during, failedDuring, ms(p99Base), failed, total)
		rec(r)
	}
	if total == 0 {
		return errNoRequests
	}
	return nil
}

// runReloadDocker measures the Docker provider's path in this process, without an engine:
// n synthetic labelled containers through docker.Convert, the aggregator's merge (with its
// comparison to the previous snapshot), router.Compile and the switch, after one label of
// one container changed; then the same under a paced load served by the switched table.
func (b *bench) runReloadDocker(ctx context.Context, cfg config, rec func(result)) error {
	be, err := b.startBackend()
	if err != nil {
		return err
	}
	defer be.stop()
	for _, n := range cfg.reloadSizes {
		if err := b.reloadDockerSize(ctx, cfg, be, n, rec); err != nil {
			return fmt.Errorf("reload_docker, %d routers: %w", n, err)
		}
	}
	return nil
}

func (b *bench) reloadDockerSize(ctx context.Context, cfg config, be *peer, n int, rec func(result)) error {
	containers := syntheticContainers(n)
	opts := router.Options{EntryPoints: []router.EntryPoint{{Name: "web"}}, Transports: upstream.NewTransports(),
		Buffers: upstream.NewBufferPool(), Log: zerolog.Nop()}
	defer opts.Transports.CloseIdle()
	conv, err := docker.NewConverter(docker.ConvertOptions{}) // remembers conversions, as the provider's does
	if err != nil {
		return err
	}
	agg := provider.NewAggregator()
	agg.Update(provider.Message{Provider: "file", Config: benchRoute(be.http)})
	sw := router.NewSwitcher(1)
	defer func() { sw.Load().Close() }()
	rebuild := func() reloadTiming {
		t := reloadTiming{from: time.Now()}
		c0 := selfCPU()
		cfgD, errs := conv.Convert(containers, nil)
		t1 := time.Now()
		agg.Update(provider.Message{Provider: "docker", Config: cfgD, Errors: errs})
		snap, _ := agg.Merge()
		t2 := time.Now()
		tab, _ := router.Compile(snap.Config, snap.Errors, opts)
		sw.Swap(tab)
		t.to = time.Now()
		t.cpu = selfCPU() - c0
		t.convert, t.merge, t.compile = t1.Sub(t.from), t2.Sub(t1), t.to.Sub(t2)
		t.routers = len(tab.Info().Routers)
		return t
	}
	gen := 0
	change := func() reloadTiming {
		gen++
		c := &containers[0]
		labels := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			labels[k] = v
		}
		labels["wharf.http.routers.app0.rule"] = fmt.Sprintf("Host(`probe-%d.test`)", gen)
		c.Labels = labels // a new map, as a relist from the engine would give
		return rebuild()
	}
	rebuild()
	for k := 0; k < cfg.changes; k++ {
		time.Sleep(cfg.settle)
		t := change()
		r := result{scenario: "reload_docker", peer: "wharf", run: k + 1, metrics: map[string]float64{
			mRouters: float64(n), mWall: ms(t.to.Sub(t.from)), mReloadCPU: ms(t.cpu),
			mConvert: ms(t.convert), mMerge: ms(t.merge), mCompile: ms(t.compile)}}
		b.logf("reload_docker %5d routers, change %d: %7.1f ms (convert %6.1f, merge %6.1f, compile %6.1f), CPU %7.1f ms",
			n, k+1, r.metrics[mWall], r.metrics[mConvert], r.metrics[mMerge], r.metrics[mCompile], r.metrics[mReloadCPU])
		rec(r)
	}
	// Serve the switched table from this process for the load.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sw.Handler(0), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return b.reloadUnderLoad(ctx, cfg, "reload_docker", "http://"+ln.Addr().String()+"/", n,
		func() (reloadTiming, error) { return change(), nil }, rec)
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syntheticContainers are n running containers on the default bridge, each labelled with
// one router and the port of its service, the way a compose file labels an app.
func syntheticContainers(n int) []docker.Container {
	out := make([]docker.Container, n)
	for i := range out {
		name := fmt.Sprintf("app%d", i)
		out[i] = docker.Container{
			ID:           fmt.Sprintf("%064x", i+1),
			Name:         name,
			State:        "running",
			NetworkMode:  "bridge",
			Networks:     map[string]docker.Network{"bridge": {IP: fmt.Sprintf("172.17.%d.%d", i/250, i%250+2)}},
			ExposedPorts: []string{"8080/tcp"},
			Labels: map[string]string{
				"wharf.enable":                         "true",
				"wharf.http.routers." + name + ".rule": fmt.Sprintf("Host(`%s.example.com`)", name),
				"wharf.http.services." + name + ".loadbalancer.server.port": "8080",
				"com.docker.compose.project":                                "bench",
				"com.docker.compose.service":                                name,
			},
		}
	}
	return out
}

// benchRoute is the route the load uses, as the file provider would send it.
func benchRoute(backend string) *dynamic.Configuration {
	c := dynamic.NewConfiguration()
	c.HTTP.Routers["bench"] = &dynamic.Router{Rule: "Host(`" + benchHost + "`)", Service: "bench"}
	c.HTTP.Services["bench"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: "http://" + backend}}}}
	return c
}
