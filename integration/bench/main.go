// Command bench measures wharf beside nginx and HAProxy on this machine, the way
// shared/design/BENCH.md says: the proxy's own CPU time per proxied request, read from
// /proc/PID/stat around a fixed load window, interleaved runs, medians and ratios.
//
// It starts a fast Go backend (this program, re-run as a child), then wharf, nginx and haproxy
// in front of it with equivalent minimal configurations (one route, upstream keep-alive, no
// access log), and runs the scenarios against each in turn: http and https (wrk), h2
// (h2load), idle keep-alive connections (memory per connection), and reloads of 10, 1,000
// and 10,000 routers from the file provider (the real binary) and from the Docker provider's
// label parser (in this process). Everything listens on 127.0.0.1; every load is bounded in
// time and count; every process it starts is stopped by its own process group id.
//
//	go run ./integration/bench                        # the full run (make bench)
//	go run ./integration/bench -runs 1 -duration 3s   # a quicker look
//	go run ./integration/bench -scenarios http -peers wharf,nginx -peer 'wharf-p1=GOMAXPROCS=1'
//
// It prints markdown tables and writes bench.md, bench.csv (medians) and bench-runs.csv
// (every measurement) to -out. TestBenchSmoke runs it for about a second per scenario.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is one run of the harness.
type config struct {
	runs      int           // interleaved rounds of every load and idle scenario
	duration  time.Duration // measured load window
	warmup    time.Duration // load before each measured window
	threads   int           // wrk and h2load threads
	conns     int           // wrk keep-alive connections
	h2Conns   int           // h2load connections
	h2Streams int           // h2load concurrent streams per connection
	idleConns int           // idle keep-alive connections per peer
	settle    time.Duration // pause before reading memory, and between reloads

	reloadSizes []int         // router counts of the reload scenarios
	changes     int           // changes per reload size (medians over them)
	baseline    time.Duration // paced load before the first change, for the baseline p99

	scenarios    map[string]bool // nil: all
	peers        []peerSpec
	wharfBin     string // "": built from this module
	wharfVersion string
	out          string // directory for bench.md and the CSVs; "": none
	quiet        bool
}

var allScenarios = []string{"http", "https", "h2", "idle", "idle_tls", "reload_file", "reload_docker"}

func (c config) wants(s string) bool { return c.scenarios == nil || c.scenarios[s] }

func defaultConfig() config {
	return config{
		runs: 3, duration: 10 * time.Second, warmup: 2 * time.Second, threads: 2, conns: 50,
		h2Conns: 10, h2Streams: 5, idleConns: 5000, settle: time.Second,
		reloadSizes: []int{10, 1000, 10000}, changes: 3, baseline: time.Second,
		peers: []peerSpec{{name: "backend", kind: kindBackend}, {name: "wharf", kind: kindWharf},
			{name: "nginx", kind: kindNginx}, {name: "haproxy", kind: kindHAProxy}},
	}
}

func main() {
	runChildRole()
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if rep != nil {
		rep.markdown(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&cfg.runs, "runs", cfg.runs, "interleaved runs of each scenario (medians over them)")
	fs.DurationVar(&cfg.duration, "duration", cfg.duration, "measured load window")
	fs.DurationVar(&cfg.warmup, "warmup", cfg.warmup, "load before each measured window")
	fs.IntVar(&cfg.threads, "threads", cfg.threads, "wrk and h2load threads")
	fs.IntVar(&cfg.conns, "conns", cfg.conns, "wrk keep-alive connections")
	fs.IntVar(&cfg.h2Conns, "h2-conns", cfg.h2Conns, "h2load connections")
	fs.IntVar(&cfg.h2Streams, "h2-streams", cfg.h2Streams, "h2load concurrent streams per connection")
	fs.IntVar(&cfg.idleConns, "idle-conns", cfg.idleConns, "idle keep-alive connections per peer")
	fs.DurationVar(&cfg.settle, "settle", cfg.settle, "pause before reading memory and between reloads")
	fs.IntVar(&cfg.changes, "changes", cfg.changes, "changes per reload size")
	fs.DurationVar(&cfg.baseline, "baseline", cfg.baseline, "paced load before the first change (baseline p99)")
	sizes := fs.String("reload-sizes", "10,1000,10000", "router counts of the reload scenarios")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run")
	peers := fs.String("peers", "backend,wharf,nginx,haproxy", "peers of the load and idle scenarios")
	var variants []string
	fs.Func("peer", "an extra wharf variant NAME=VAR=value[,VAR=value] (repeatable), e.g. wharf-p1=GOMAXPROCS=1;\n"+
		binVar+"=path runs another build: wharf-new="+binVar+"=/tmp/wharf-new",
		func(s string) error { variants = append(variants, s); return nil })
	fs.StringVar(&cfg.wharfBin, "wharf", "", "wharf binary (default: built from this module)")
	fs.StringVar(&cfg.out, "out", "", "directory for bench.md, bench.csv and bench-runs.csv")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.reloadSizes = nil
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("-reload-sizes: %q is not a count", s)
		}
		cfg.reloadSizes = append(cfg.reloadSizes, n)
	}
	cfg.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if !contains(allScenarios, s) {
			return cfg, fmt.Errorf("-scenarios: unknown %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		cfg.scenarios[s] = true
	}
	cfg.peers = nil
	for _, s := range append(strings.Split(*peers, ","), variants...) {
		p, err := parsePeer(strings.TrimSpace(s))
		if err != nil {
			return cfg, err
		}
		cfg.peers = append(cfg.peers, p)
	}
	if cfg.runs < 1 || cfg.duration <= 0 || cfg.threads < 1 || cfg.conns < cfg.threads || cfg.idleConns < 1 || cfg.changes < 1 {
		return cfg, errors.New("runs, duration, threads, idle-conns and changes must be positive, and conns at least threads")
	}
	return cfg, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// run runs the scenarios asked for and returns their report (also when one failed, with
// what was measured before). It writes the report's files when cfg.out is set.
func run(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	if err := need(toolsFor(cfg)...); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wharf-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// nginx's workers run as nobody and must reach their temp directories.
	_ = os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, self: self, progress: progress}
	if cfg.quiet {
		b.progress = io.Discard
	}
	if b.cert, err = writeCert(dir); err != nil {
		return nil, err
	}
	if b.wharfBin = cfg.wharfBin; b.wharfBin == "" {
		b.logf("building wharf")
		if b.wharfBin, err = buildWharf(ctx, dir); err != nil {
			return nil, err
		}
	}
	cfg.wharfVersion = wharfVersion(b.wharfBin)
	var results []result
	rec := func(r result) { results = append(results, r) }
	loadStart := loadAvg()
	steps := []struct {
		run  func(context.Context, config, func(result)) error
		want bool
	}{
		{b.runLoad, cfg.wants("http") || cfg.wants("https") || cfg.wants("h2")},
		{b.runIdle, cfg.wants("idle") || cfg.wants("idle_tls")},
		{b.runReloadFile, cfg.wants("reload_file") && len(cfg.reloadSizes) > 0},
		{b.runReloadDocker, cfg.wants("reload_docker") && len(cfg.reloadSizes) > 0},
	}
	for _, s := range steps {
		if !s.want {
			continue
		}
		if err = s.run(ctx, cfg, rec); err != nil {
			break
		}
		if err = ctx.Err(); err != nil {
			break
		}
	}
	rep := newReport(cfg, results)
	rep.load = loadStart + " / " + loadAvg()
	if cfg.out != "" {
		if werr := rep.write(cfg.out); werr != nil && err == nil {
			err = werr
		}
	}
	return rep, err
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// toolsFor lists the programs the scenarios and peers asked for need.
func toolsFor(cfg config) []string {
	var tools []string
	if cfg.wants("http") || cfg.wants("https") {
		tools = append(tools, "wrk")
	}
	if cfg.wants("h2") {
		tools = append(tools, "h2load")
	}
	if cfg.wants("http") || cfg.wants("https") || cfg.wants("h2") || cfg.wants("idle") || cfg.wants("idle_tls") {
		for _, p := range cfg.peers {
			if p.kind == kindNginx || p.kind == kindHAProxy {
				tools = append(tools, string(p.kind))
			}
		}
	}
	if cfg.wharfBin == "" {
		tools = append(tools, "go")
	}
	return tools
}

// buildWharf builds wharf the way `make build` does.
func buildWharf(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "wharf")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/wharfproxy/wharf/cmd/wharf")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building wharf: %w\n%s", err, out)
	}
	return bin, nil
}

func wharfVersion(bin string) string {
	out, _ := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); v != "" {
		return v
	}
	return filepath.Base(bin)
}

// write saves the report as bench.md, bench.csv and bench-runs.csv in dir.
func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	r.markdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{"bench.csv": r.writeCSV, "bench-runs.csv": r.writeRunsCSV} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
