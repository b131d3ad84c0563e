package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadResult is what one load generator run reports.
type loadResult struct {
	requests int64  // completed with a 2xx/3xx answer
	errors   int64  // non-2xx/3xx answers, socket errors, failed streams, timeouts
	timeouts int64  // of which: requests unanswered within wrk's 2 s (a loaded machine)
	detail   string // the tool's own words about the errors, when there were some
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// wrkArgs is one wrk run: threads, keep-alive connections, duration, to url with benchHost.
func wrkArgs(threads, conns int, d time.Duration, url string) []string {
	// wrk takes whole seconds.
	secs := max(1, int((d+time.Second-1)/time.Second))
	return []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs) + "s",
		"--latency", "-H", "Host: " + benchHost, url}
}

// durationArg formats d for h2load, which takes seconds or milliseconds.
func durationArg(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// runWrk runs wrk to completion (it stops itself after its duration; ctx bounds it too).
func runWrk(ctx context.Context, args []string) (loadResult, error) {
	out, err := runTool(ctx, "wrk", args...)
	if err != nil {
		return loadResult{}, err
	}
	return parseWrk(out)
}

func runTool(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

var (
	wrkTotal   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary (with --latency).
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no request count in output:\n%s", out)
	}
	total, _ := strconv.ParseInt(m[1], 10, 64)
	r.elapsed = unitDuration(m[2], m[3])
	for _, pm := range wrkPct.FindAllStringSubmatch(out, -1) {
		d := unitDuration(pm[2], pm[3])
		if pm[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += n
	}
	if m := wrkSockErr.FindStringSubmatch(out); m != nil {
		// Read errors include connections the server closed; timeouts are requests that
		// never got an answer. Connect errors mean the server was not there.
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errors += n
		}
		r.timeouts, _ = strconv.ParseInt(m[4], 10, 64)
	}
	r.requests = total - min(total, r.errors)
	if r.errors > 0 {
		r.detail = strings.Join(append(wrkNon2xx.FindAllString(out, 1), wrkSockErr.FindAllString(out, 1)...), "; ")
	}
	return r, nil
}

func unitDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	case "m":
		return time.Duration(f * float64(time.Minute))
	}
	return time.Duration(f * float64(time.Second))
}

// h2loadArgs is one h2load run: HTTP/2 over TLS (ALPN h2), conns connections with streams
// concurrent streams each, for d, logging every request's latency to logFile.
func h2loadArgs(threads, conns, streams int, d time.Duration, logFile, url string) []string {
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams),
		"-D", durationArg(d), "-H", ":authority: " + benchHost}
	if logFile != "" {
		args = append(args, "--log-file", logFile)
	}
	return append(args, url)
}

var (
	h2Finished = regexp.MustCompile(`finished in ([\d.]+)(us|ms|s|m),`)
	h2Requests = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// runH2load runs h2load and reads its summary and, from its log, the latency percentiles
// (h2load prints only mean and deviation).
func runH2load(ctx context.Context, args []string, logFile string) (loadResult, error) {
	out, err := runTool(ctx, "h2load", args...)
	if err != nil {
		return loadResult{}, err
	}
	r, err := parseH2load(out)
	if err != nil || logFile == "" {
		return r, err
	}
	lat, err := readH2Log(logFile)
	if err != nil {
		return r, err
	}
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return r, nil
}

func parseH2load(out string) (loadResult, error) {
	var r loadResult
	f := h2Finished.FindStringSubmatch(out)
	q := h2Requests.FindStringSubmatch(out)
	s := h2Status.FindStringSubmatch(out)
	if f == nil || q == nil || s == nil {
		return r, fmt.Errorf("h2load: unexpected output:\n%s", out)
	}
	r.elapsed = unitDuration(f[1], f[2])
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	ok := n(s[1]) + n(s[2])
	r.requests = ok
	r.errors = n(q[2]) + n(q[3]) + n(q[4]) + n(s[3]) + n(s[4])
	r.timeouts = n(q[4])
	if r.errors > 0 {
		r.detail = q[0] + "; " + s[0]
	}
	return r, nil
}

// readH2Log reads h2load's --log-file: start (µs since the epoch), status, duration (µs).
func readH2Log(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lat []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue
		}
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	return lat, sc.Err()
}

// percentile returns the q-quantile (nearest rank) of d, sorting it.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(q*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// openIdle opens n keep-alive connections to addr (TLS when useTLS), sends one request on
// each and reads the answer, and leaves them open and idle. The caller closes them.
func openIdle(ctx context.Context, addr string, useTLS bool, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := idleConn(ctx, addr, useTLS)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = fmt.Errorf("connection %d: %w", i, err)
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	if first != nil {
		closeAll(conns)
		return nil, first
	}
	return conns, nil
}

var idleRequest = []byte("GET / HTTP/1.1\r\nHost: " + benchHost + "\r\n\r\n")

func idleConn(ctx context.Context, addr string, useTLS bool) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if useTLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, //nolint:gosec // self-signed
			ServerName: benchHost, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(idleRequest); err != nil {
		c.Close()
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		c.Close()
		return nil, fmt.Errorf("status %d", res.StatusCode)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// paced is a bounded, paced load from this process: workers keep-alive connections, each
// sending one request every interval. A request's latency counts from when it was due, not
// when it was sent, so a stall is not hidden by the requests it delayed.
type paced struct {
	url, host string
	workers   int
	interval  time.Duration
	max       int // at most this many requests in all

	mu      sync.Mutex
	samples []sample
}

// sample is one request of a paced load.
type sample struct {
	due, end time.Time
	ok       bool
}

func (s sample) latency() time.Duration { return s.end.Sub(s.due) }

// run sends requests until ctx is done or max requests were sent.
func (p *paced) run(ctx context.Context) {
	var wg sync.WaitGroup
	per := max(1, p.max/p.workers)
	for w := 0; w < p.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // self-signed
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			// Spread the workers over the interval.
			due := time.Now().Add(p.interval * time.Duration(w) / time.Duration(p.workers))
			for i := 0; i < per && ctx.Err() == nil; i++ {
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
				ok := get(ctx, c, p.url, p.host)
				if ctx.Err() != nil {
					return // a request cut by the end of the run is not a failure
				}
				p.mu.Lock()
				p.samples = append(p.samples, sample{due: due, end: time.Now(), ok: ok})
				p.mu.Unlock()
				due = due.Add(p.interval)
			}
		}(w)
	}
	wg.Wait()
}

func get(ctx context.Context, c *http.Client, url, host string) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return false
	}
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == 200
}

// window summarizes the samples whose request overlapped [from, to].
func (p *paced) window(from, to time.Time) (n, failed int, p99 time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lat []time.Duration
	for _, s := range p.samples {
		if s.end.Before(from) || s.due.After(to) {
			continue
		}
		n++
		if !s.ok {
			failed++
		}
		lat = append(lat, s.latency())
	}
	return n, failed, percentile(lat, 0.99)
}

// totals counts every sample and every failure.
func (p *paced) totals() (n, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.samples {
		if !s.ok {
			failed++
		}
	}
	return len(p.samples), failed
}

// need checks that the external tools are installed.
func need(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make bench-tools` (apt-get install nginx haproxy wrk nghttp2-client)", strings.Join(missing, ", "))
	}
	return nil
}

// tempLog is a fresh path for an h2load log.
func tempLog(dir string) string {
	f, err := os.CreateTemp(dir, "h2load-*.log")
	if err != nil {
		return filepath.Join(dir, fmt.Sprintf("h2load-%d.log", time.Now().UnixNano()))
	}
	f.Close()
	return f.Name()
}

var errNoRequests = errors.New("no request was served")
