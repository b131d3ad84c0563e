package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// report is the medians of a run, with what is needed to read them.
type report struct {
	cfg     config
	when    time.Time
	load    string // the machine's load average at the start and the end of the run
	machine string
	tools   string
	results []result
	peers   []string // in the order asked for
	// med[scenario][peer][metric] is the median over runs.
	med map[string]map[string]map[string]float64
}

func newReport(cfg config, results []result) *report {
	r := &report{cfg: cfg, when: time.Now().UTC(), machine: machine(), tools: toolVersions(cfg), results: results,
		med: map[string]map[string]map[string]float64{}}
	for _, p := range cfg.peers {
		r.peers = append(r.peers, p.name)
	}
	type key struct{ sc, peer, metric string }
	values := map[key][]float64{}
	for _, res := range results {
		sc := res.scenario
		if _, ok := res.metrics[mRouters]; ok {
			sc = fmt.Sprintf("%s/%d", res.scenario, int(res.metrics[mRouters]))
		}
		for m, v := range res.metrics {
			k := key{sc, res.peer, m}
			values[k] = append(values[k], v)
		}
	}
	for k, vs := range values {
		if r.med[k.sc] == nil {
			r.med[k.sc] = map[string]map[string]float64{}
		}
		if r.med[k.sc][k.peer] == nil {
			r.med[k.sc][k.peer] = map[string]float64{}
		}
		r.med[k.sc][k.peer][k.metric] = median(vs)
	}
	return r
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// get returns a median and whether it was measured.
func (r *report) get(sc, peer, metric string) (float64, bool) {
	v, ok := r.med[sc][peer][metric]
	return v, ok
}

// ratio is peer's median of metric over base's, formatted, or "" when either is missing.
func (r *report) ratio(sc, peer, base, metric string) string {
	a, ok1 := r.get(sc, peer, metric)
	b, ok2 := r.get(sc, base, metric)
	if !ok1 || !ok2 || b == 0 || peer == base {
		return ""
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// pairedRatio is the median over runs of peer's value divided by base's in the same run:
// runs next to each other in time share whatever else the machine was doing.
func (r *report) pairedRatio(sc, peer, base, metric string) (float64, bool) {
	byRun := map[int]map[string]float64{}
	for _, res := range r.results {
		if res.scenario != sc || (res.peer != peer && res.peer != base) {
			continue
		}
		if byRun[res.run] == nil {
			byRun[res.run] = map[string]float64{}
		}
		byRun[res.run][res.peer] = res.metrics[metric]
	}
	var ratios []float64
	for _, m := range byRun {
		if b, ok := m[base]; ok && b > 0 {
			if a, ok := m[peer]; ok {
				ratios = append(ratios, a/b)
			}
		}
	}
	return median(ratios), len(ratios) > 0
}

// markdown writes every table.
func (r *report) markdown(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "## wharf beside nginx and HAProxy, %s\n\n", r.when.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Machine: %s. %s.\n\n", r.machine, r.tools)
	if r.load != "" {
		fmt.Fprintf(w, "Load average (1, 5, 15 min) at the start and the end: %s; anything above the core count means other work shared the cores.\n\n", r.load)
	}
	fmt.Fprintf(w, "Medians of %d interleaved runs. Load: wrk -t%d -c%d, %v measured after %v of warm-up; h2load -t%d -c%d -m%d. "+
		"CPU is the proxy's own user+system time (all its processes) divided by the requests it served.\n\n",
		c.runs, c.threads, c.conns, c.duration, c.warmup, c.threads, c.h2Conns, c.h2Streams)
	for _, sc := range []string{"http", "https", "h2"} {
		if r.med[sc] == nil {
			continue
		}
		fmt.Fprintf(w, "### %s\n\n", sc)
		fmt.Fprintln(w, "| peer | CPU µs/req | user | sys | req/s | p50 ms | p99 ms | peak RSS MB | errors | CPU vs nginx | CPU vs haproxy | p99 vs nginx |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range r.peers {
			m := r.med[sc][p]
			if m == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.0f | %.2f | %.2f | %.1f | %.0f | %s | %s | %s |\n", p,
				m[mCPU], m[mUser], m[mSys], m[mRPS], m[mP50], m[mP99], m[mPeakRSS], m[mErrors],
				r.ratio(sc, p, "nginx", mCPU), r.ratio(sc, p, "haproxy", mCPU), r.ratio(sc, p, "nginx", mP99))
		}
		fmt.Fprintln(w)
	}
	if r.med["idle"] != nil || r.med["idle_tls"] != nil {
		fmt.Fprintf(w, "### idle keep-alive connections (%d, resident memory growth per connection)\n\n", c.idleConns)
		fmt.Fprintln(w, "| peer | plain KB/conn | TLS KB/conn | plain vs nginx | TLS vs nginx |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, p := range r.peers {
			a, ok1 := r.get("idle", p, mIdleBytes)
			b, ok2 := r.get("idle_tls", p, mIdleBytes)
			if !ok1 && !ok2 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", p, kb(a, ok1), kb(b, ok2),
				r.ratio("idle", p, "nginx", mIdleBytes), r.ratio("idle_tls", p, "nginx", mIdleBytes))
		}
		fmt.Fprintln(w)
	}
	r.reloadTables(w)
	r.targets(w)
}

func kb(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.1f", v/1024)
}

func (r *report) reloadTables(w io.Writer) {
	c := r.cfg
	if r.has("reload_file/") {
		fmt.Fprintf(w, "### reload: file provider, real binary (medians of %d changes of one router)\n\n", c.changes)
		fmt.Fprintln(w, "| routers | took ms (compile+swap) | write to served ms | CPU ms | p99 before ms | p99 during ms | failed during / requests during | failed in all / requests |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, n := range c.reloadSizes {
			q := r.med[fmt.Sprintf("reload_file/%d", n)]["wharf"]
			l := r.med[fmt.Sprintf("reload_file_load/%d", n)]["wharf"]
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.0f / %.0f | %.0f / %.0f |\n", n,
				q[mTook], q[mWall], q[mReloadCPU], l[mP99Base], l[mP99During], l[mFailedDuring], l[mDuring], l[mFailed], l[mLoadReqs])
		}
		fmt.Fprintln(w)
	}
	if r.has("reload_docker/") {
		fmt.Fprintf(w, "### reload: Docker label parser, in process (medians of %d changes of one label)\n\n", c.changes)
		fmt.Fprintln(w, "| routers | total ms | convert ms | merge ms | compile+swap ms | CPU ms | p99 before ms | p99 during ms | failed during / requests during | failed in all / requests |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, n := range c.reloadSizes {
			q := r.med[fmt.Sprintf("reload_docker/%d", n)]["wharf"]
			l := r.med[fmt.Sprintf("reload_docker_load/%d", n)]["wharf"]
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.0f / %.0f | %.0f / %.0f |\n", n,
				q[mWall], q[mConvert], q[mMerge], q[mCompile], q[mReloadCPU], l[mP99Base], l[mP99During],
				l[mFailedDuring], l[mDuring], l[mFailed], l[mLoadReqs])
		}
		fmt.Fprintln(w)
	}
}

func (r *report) has(prefix string) bool {
	for sc := range r.med {
		if strings.HasPrefix(sc, prefix) {
			return true
		}
	}
	return false
}

// targets checks issue #8's targets that this run measured.
func (r *report) targets(w io.Writer) {
	type row struct{ target, got, ok string }
	var rows []row
	yes := func(b bool) string {
		if b {
			return "met"
		}
		return "**not met**"
	}
	for _, sc := range []string{"http", "https"} {
		a, ok1 := r.get(sc, "wharf", mCPU)
		n, ok2 := r.get(sc, "nginx", mCPU)
		if ok1 && ok2 && n > 0 {
			got := fmt.Sprintf("%.1f vs %.1f µs: %.2fx", a, n, a/n)
			if p, ok := r.pairedRatio(sc, "wharf", "nginx", mCPU); ok {
				got += fmt.Sprintf(" (median of per-run ratios %.2fx)", p)
			}
			rows = append(rows, row{sc + ": wharf CPU/request at most 1.5x nginx's", got, yes(a/n <= 1.5)})
		}
	}
	if v, ok := r.get("idle", "wharf", mIdleBytes); ok {
		rows = append(rows, row{"idle plain connection at most 16 KB", fmt.Sprintf("%.1f KB", v/1024), yes(v <= 16*1024)})
	}
	if a, ok := r.get("http", "wharf", mP99); ok {
		if n, ok := r.get("http", "nginx", mP99); ok {
			rows = append(rows, row{fmt.Sprintf("http p99 at %d connections no worse than nginx's", r.cfg.conns),
				fmt.Sprintf("%.2f vs %.2f ms", a, n), yes(a <= n)})
		}
	}
	for _, sc := range []string{"reload_file", "reload_docker"} {
		if q, ok := r.med[sc+"/1000"]["wharf"]; ok {
			wall := q[mTook]
			if sc == "reload_docker" {
				wall = q[mWall]
			}
			rows = append(rows, row{sc + ", 1,000 routers: under 50 ms and 0.1 CPU-s",
				fmt.Sprintf("%.1f ms, %.1f ms CPU", wall, q[mReloadCPU]), yes(wall < 50 && q[mReloadCPU] < 100)})
		}
		if q, ok := r.med[sc+"/10000"]["wharf"]; ok {
			wall := q[mTook]
			if sc == "reload_docker" {
				wall = q[mWall]
			}
			rows = append(rows, row{sc + ", 10,000 routers: under 500 ms", fmt.Sprintf("%.1f ms", wall), yes(wall < 500)})
		}
	}
	failed := 0.0
	measured := false
	for _, res := range r.results {
		if strings.HasSuffix(res.scenario, "_load") {
			measured = true
			failed = max(failed, res.metrics[mFailed])
		}
	}
	if measured {
		rows = append(rows, row{"zero failed requests during rebuilds", fmt.Sprintf("%.0f failed", failed), yes(failed == 0)})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "### issue #8 targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, x := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", x.target, x.got, x.ok)
	}
	fmt.Fprintln(w)
}

// writeCSV writes the medians (scenario, peer, metric, median, runs).
func (r *report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"date", "scenario", "peer", "metric", "median", "runs"})
	count := map[string]int{}
	for _, res := range r.results {
		sc := res.scenario
		if _, ok := res.metrics[mRouters]; ok {
			sc = fmt.Sprintf("%s/%d", res.scenario, int(res.metrics[mRouters]))
		}
		count[sc+"\x00"+res.peer]++
	}
	date := r.when.Format(time.RFC3339)
	for _, sc := range sortedKeys(r.med) {
		for _, p := range sortedKeys(r.med[sc]) {
			for _, m := range sortedKeys(r.med[sc][p]) {
				_ = cw.Write([]string{date, sc, p, m, strconv.FormatFloat(r.med[sc][p][m], 'f', -1, 64), strconv.Itoa(count[sc+"\x00"+p])})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeRunsCSV writes every measurement (scenario, peer, run, metric, value).
func (r *report) writeRunsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"date", "scenario", "peer", "run", "metric", "value"})
	date := r.when.Format(time.RFC3339)
	for _, res := range r.results {
		for _, m := range sortedKeys(res.metrics) {
			_ = cw.Write([]string{date, res.scenario, res.peer, strconv.Itoa(res.run), m, strconv.FormatFloat(res.metrics[m], 'f', -1, 64)})
		}
	}
	cw.Flush()
	return cw.Error()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// machine describes where the run happened: CPU model, cores, kernel, distribution.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	kernel := cstr(u.Release[:])
	distro := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				distro = ", " + strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, Linux %s%s", model, runtime.NumCPU(), kernel, distro)
}

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// toolVersions names the versions compared.
func toolVersions(cfg config) string {
	first := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput() // wrk --version exits 1
		if len(out) == 0 {
			return ""
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	parts := []string{"wharf " + cfg.wharfVersion + " (" + runtime.Version() + ")"}
	if v := first("nginx", "-v"); v != "" {
		parts = append(parts, strings.TrimPrefix(v, "nginx version: "))
	}
	if v := strings.Fields(first("haproxy", "-v")); len(v) >= 3 {
		parts = append(parts, strings.Join(v[:3], " "))
	}
	if v := strings.Fields(first("wrk", "--version")); len(v) >= 2 {
		parts = append(parts, strings.Join(v[:2], " "))
	}
	if v := first("h2load", "--version"); v != "" {
		parts = append(parts, v)
	}
	return strings.Join(parts, "; ")
}
