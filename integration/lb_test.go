package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// replica is a backend on a fixed loopback address that a test can kill (every connection
// closed at once, as when a process dies) and start again on the same address.
type replica struct {
	t       testing.TB
	name    string
	addr    string
	hits    atomic.Int64
	healthy atomic.Bool
	delay   time.Duration // added to every ordinary request
	// healthDelay is how long /health takes to answer.
	healthDelay time.Duration

	mu  sync.Mutex
	srv *http.Server
}

func newReplica(t testing.TB, name string) *replica {
	t.Helper()
	r := &replica{t: t, name: name}
	r.healthy.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.kill)
	return r
}

func (r *replica) URL() string { return "http://" + r.addr }

func (r *replica) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// kill closes the listener and every connection, requests in flight included.
func (r *replica) kill() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// restart listens on the same address again.
func (r *replica) restart() {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ln, err := net.Listen("tcp", r.addr)
		if err == nil {
			r.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %s cannot listen on %s again: %v", r.name, r.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *replica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/health" {
		time.Sleep(r.healthDelay)
		if !r.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
		return
	}
	r.hits.Add(1)
	_, _ = io.Copy(io.Discard, req.Body)
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	io.WriteString(w, r.name)
}

// lbFile writes a dynamic configuration file and returns its path.
func lbFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, path, yaml)
	return path
}

func servers(rs ...*replica) string {
	var b strings.Builder
	b.WriteString("        servers:\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "          - url: %s\n", r.URL())
	}
	return b.String()
}

func lbClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
}

// send makes one request and returns the answering replica's name, or an error.
func send(c *http.Client, addr, host, method, body string, hdr ...string) (string, error) {
	name, _, err := sendH(c, addr, host, method, body, hdr...)
	return name, err
}

// sendH is send that also returns the response headers.
func sendH(c *http.Client, addr, host, method, body string, hdr ...string) (string, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+"/", rd)
	if err != nil {
		return "", nil, err
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", nil, err
	}
	if res.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("status %d %q", res.StatusCode, b)
	}
	return string(b), res.Header, nil
}

// result is one request of a load run.
type result struct {
	start  time.Time
	method string
	name   string
	err    error
}

// load sends requests from workers until ctx ends or each worker sent max; every fourth is a
// POST with a body. It returns the results when stop is called.
type load struct {
	mu      sync.Mutex
	results []result
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

func startLoad(addr, host string, workers, max int) *load {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	l := &load{cancel: cancel}
	c := lbClient()
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < max && ctx.Err() == nil; n++ {
				method, body := "GET", ""
				if n%4 == 3 {
					method, body = "POST", "order"
				}
				start := time.Now()
				name, err := send(c, addr, host, method, body)
				l.mu.Lock()
				l.results = append(l.results, result{start, method, name, err})
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) stop() []result {
	l.cancel()
	l.wg.Wait()
	return l.results
}

// okSince counts the successful requests started after t.
func (l *load) okSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.results {
		if r.err == nil && r.start.After(t) {
			n++
		}
	}
	return n
}

// TestKillOneOfThree is issue #9's promise: a user runs three replicas, stops one mid-traffic,
// and their clients do not notice. Eight clients send GETs and POSTs while one replica dies
// (every connection closed at once, as when a process is killed). After the death is detected
// no idempotent request fails, with or without a health check (the forwarder sends a request
// whose connection is refused to another replica, and takes the replica out); before it, only
// requests caught inside the dying replica may fail: at most one per client. (A POST that was
// written to a connection the replica closed at that instant is one of those: it may have been
// received, so it is never sent again.) The replica then comes back and gets traffic again.
func TestKillOneOfThree(t *testing.T) {
	for _, tc := range []struct {
		name, health string
	}{
		{"health_check", "        healthCheck:\n          path: /health\n          interval: 100ms\n          timeout: 500ms\n"},
		{"no_health_configuration", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps := []*replica{newReplica(t, "r0"), newReplica(t, "r1"), newReplica(t, "r2")}
			dyn := lbFile(t, `
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
  services:
    app:
      loadBalancer:
`+tc.health+servers(reps...))
			w := StartWharf(t, fileStatic(dyn))
			const workers = 8
			l := startLoad(w.Addr("web"), "app.test", workers, 200000)
			begin := time.Now()
			Eventually(t, 3*time.Second, "traffic on every replica", func() bool {
				return l.okSince(begin) > 300 && reps[0].hits.Load() > 0 && reps[1].hits.Load() > 0 && reps[2].hits.Load() > 0
			})
			killAt := time.Now()
			reps[2].kill()
			detected := time.Now() // without a health check, the first refused connection detects it
			if tc.health != "" {
				w.WaitLog(func(m map[string]any) bool {
					return m["message"] == "server is down: its health check failed" && m["server"] == reps[2].URL()
				}, 3*time.Second)
				detected = time.Now()
			}
			Eventually(t, 3*time.Second, "traffic after the kill", func() bool { return l.okSince(detected) > 500 })
			hits := reps[2].hits.Load()
			reps[2].restart()
			back := time.Now()
			Eventually(t, 3*time.Second, "the restarted replica to receive traffic", func() bool { return reps[2].hits.Load() > hits+20 })
			backAfter := time.Since(back)
			Eventually(t, 3*time.Second, "traffic after the return", func() bool { return l.okSince(time.Now().Add(-time.Second)) > 300 })
			results := l.stop()
			f := countFailures(results, detected)
			t.Logf("%d requests; detection %v after the kill; failed before detection: %d GET, %d POST; after: %d GET, %d POST; back in traffic %v after restart",
				len(results), detected.Sub(killAt).Round(time.Millisecond), f.before["GET"], f.before["POST"],
				f.after["GET"], f.after["POST"], backAfter.Round(time.Millisecond))
			if f.after["GET"] != 0 {
				t.Errorf("%d GETs failed after the death was detected; want 0 (first: %v)", f.after["GET"], f.first)
			}
			if n := f.total(); n > workers {
				t.Errorf("%d requests failed; at most %d (one per client) were caught by the kill (first: %v)", n, workers, f.first)
			}
		})
	}
}

// failed counts failed requests by method, before and after a moment.
type failed struct {
	before, after map[string]int
	first         error
}

func countFailures(results []result, at time.Time) failed {
	f := failed{before: map[string]int{}, after: map[string]int{}}
	for _, r := range results {
		if r.err == nil {
			continue
		}
		if f.first == nil {
			f.first = r.err
		}
		if r.start.Before(at) {
			f.before[r.method]++
		} else {
			f.after[r.method]++
		}
	}
	return f
}

func (f failed) total() int {
	n := 0
	for _, m := range []map[string]int{f.before, f.after} {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// TestStrategiesThroughWharf: each strategy, configured by name in a file, spreads requests
// as it promises.
func TestStrategiesThroughWharf(t *testing.T) {
	reps := []*replica{newReplica(t, "r0"), newReplica(t, "r1"), newReplica(t, "r2")}
	names := []string{"wrr", "p2c", "leastconn", "hrw", "hrwheader"}
	var yaml strings.Builder
	yaml.WriteString("http:\n  routers:\n")
	for _, s := range names {
		fmt.Fprintf(&yaml, "    %s:\n      rule: Host(`%s.test`)\n      service: %s\n", s, s, s)
	}
	yaml.WriteString("  services:\n")
	for _, s := range names {
		strategy, extra := s, ""
		if s == "hrwheader" {
			strategy, extra = "hrw", "        hashHeader: X-User\n"
		}
		fmt.Fprintf(&yaml, "    %s:\n      loadBalancer:\n        strategy: %s\n%s%s", s, strategy, extra, servers(reps...))
	}
	w := StartWharf(t, fileStatic(lbFile(t, yaml.String())))
	addr := w.Addr("web")
	none := func(int) []string { return nil }
	if got := spread(t, addr, "wrr.test", 3000, none); got["r0"] != 1000 || got["r1"] != 1000 || got["r2"] != 1000 {
		t.Errorf("wrr: %v; want exactly 1000 each", got)
	}
	for _, s := range []string{"p2c", "leastconn"} {
		got := spread(t, addr, s+".test", 3000, none)
		t.Logf("%s: %v", s, got)
		for _, r := range reps {
			if got[r.name] < 800 || got[r.name] > 1200 {
				t.Errorf("%s: %v; want each replica within 1000±200", s, got)
			}
		}
	}
	if got := spread(t, addr, "hrw.test", 300, none); len(got) != 1 {
		t.Errorf("hrw on the client's IP: one client reached %v; want one replica", got)
	}
	// hrw on a header: 300 users, each asking 3 times, each always on the same replica.
	var mu sync.Mutex
	users := map[string]map[string]bool{}
	got := spread(t, addr, "hrwheader.test", 900, func(i int) []string {
		return []string{"X-User", fmt.Sprintf("user-%d", i%300)}
	}, func(hdr []string, name string) {
		mu.Lock()
		defer mu.Unlock()
		if users[hdr[1]] == nil {
			users[hdr[1]] = map[string]bool{}
		}
		users[hdr[1]][name] = true
	})
	t.Logf("hrw on X-User, requests of 300 users: %v", got)
	for _, r := range reps {
		if got[r.name] < 180 {
			t.Errorf("hrw on X-User: %v; want each replica to get a fair share of 300 users", got)
		}
	}
	for u, names := range users {
		if len(names) != 1 {
			t.Errorf("user %s reached %d replicas", u, len(names))
		}
	}
}

// spread sends n requests to host from 4 clients, with the headers hdr gives request i, and
// counts the answers by replica. each, if given, is told every answer.
func spread(t *testing.T, addr, host string, n int, hdr func(i int) []string, each ...func([]string, string)) map[string]int {
	t.Helper()
	const workers = 4
	c := lbClient()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += workers {
				h := hdr(i)
				name, err := send(c, addr, host, "GET", "", h...)
				if err != nil {
					t.Errorf("%s: %v", host, err)
					return
				}
				for _, f := range each {
					f(h, name)
				}
				mu.Lock()
				got[name]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

// TestWeightedSplit: a canary at weight 1 of 4 gets a quarter of the traffic.
func TestWeightedSplit(t *testing.T) {
	stable, canary := newReplica(t, "stable"), newReplica(t, "canary")
	w := StartWharf(t, fileStatic(lbFile(t, `
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
  services:
    app:
      weighted:
        services:
          - name: stable
            weight: 3
          - name: canary
            weight: 1
    stable:
      loadBalancer:
`+servers(stable)+`    canary:
      loadBalancer:
`+servers(canary))))
	l := startLoad(w.Addr("web"), "app.test", 4, 1000)
	l.wg.Wait()
	results := l.stop()
	got := map[string]int{}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		got[r.name]++
	}
	t.Logf("weighted 3:1 over %d requests: %v", len(results), got)
	if len(results) != 4000 || got["canary"] < 960 || got["canary"] > 1040 {
		t.Errorf("got %v of %d; want canary within 1000±40", got, len(results))
	}
}

// TestStickyThroughFailure: a client pinned by cookie stays on its replica; when that replica
// dies, the client is answered by another without an error, its cookie is rewritten to name
// the new one, and it stays there.
func TestStickyThroughFailure(t *testing.T) {
	reps := []*replica{newReplica(t, "r0"), newReplica(t, "r1"), newReplica(t, "r2")}
	w := StartWharf(t, fileStatic(lbFile(t, `
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
  services:
    app:
      loadBalancer:
        sticky:
          cookie:
            name: pin
            httpOnly: true
            sameSite: lax
`+servers(reps...))))
	addr := w.Addr("web")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 5 * time.Second, Jar: jar}
	// pinned returns the replica the client is pinned to, and the cookie that pinned it.
	pinned := func() (string, string) {
		t.Helper()
		first, h, err := sendH(c, addr, "app.test", "GET", "")
		if err != nil {
			t.Fatal(err)
		}
		set := h.Get("Set-Cookie")
		if !strings.HasPrefix(set, "pin=") || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") {
			t.Fatalf("Set-Cookie %q; want pin=..., HttpOnly, SameSite=Lax", set)
		}
		for i := 0; i < 20; i++ {
			name, h, err := sendH(c, addr, "app.test", "GET", "")
			if err != nil || name != first || h.Get("Set-Cookie") != "" {
				t.Fatalf("request %d: %q (Set-Cookie %q), %v; want the pinned replica %s, no new cookie", i, name, h.Get("Set-Cookie"), err, first)
			}
		}
		return first, set
	}
	first, cookie1 := pinned()
	for _, r := range reps {
		if r.name == first {
			r.kill()
		}
	}
	second, cookie2 := pinned()
	if second == first || cookie2 == cookie1 {
		t.Fatalf("after %s died: answered by %s with cookie %q (was %q); want another replica and a new cookie", first, second, cookie2, cookie1)
	}
	t.Logf("pinned to %s, moved to %s when it died", first, second)
}

// TestMirroringDoesNotSlowTheMainResponse: every request is copied to a mirror that takes
// 200ms to answer; the client's latency is the main service's, not the mirror's, and the
// mirror receives every copy.
func TestMirroringDoesNotSlowTheMainResponse(t *testing.T) {
	main, mirror := newReplica(t, "main"), newReplica(t, "mirror")
	mirror.delay = 200 * time.Millisecond
	w := StartWharf(t, fileStatic(lbFile(t, `
http:
  routers:
    plain:
      rule: Host(`+"`plain.test`"+`)
      service: main
    mirrored:
      rule: Host(`+"`mirrored.test`"+`)
      service: mirrored
  services:
    mirrored:
      mirroring:
        service: main
        mirrors:
          - name: mirror
            percent: 100
    main:
      loadBalancer:
`+servers(main)+`    mirror:
      loadBalancer:
`+servers(mirror))))
	addr := w.Addr("web")
	c := lbClient()
	latencies := func(host string) []time.Duration {
		var out []time.Duration
		for i := 0; i < 200; i++ {
			start := time.Now()
			body := ""
			if i%2 == 1 {
				body = "payload"
			}
			if name, err := send(c, addr, host, "POST", body); err != nil || name != "main" {
				t.Fatalf("%s: %q %v", host, name, err)
			}
			out = append(out, time.Since(start))
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	plain := latencies("plain.test")
	mirrored := latencies("mirrored.test")
	p50, p99 := func(d []time.Duration) time.Duration { return d[len(d)/2] }, func(d []time.Duration) time.Duration { return d[len(d)*99/100] }
	t.Logf("latency without mirror p50 %v p99 %v; with a 200ms mirror p50 %v p99 %v", p50(plain), p99(plain), p50(mirrored), p99(mirrored))
	if p50(mirrored) > p50(plain)+5*time.Millisecond || p99(mirrored) > 100*time.Millisecond {
		t.Errorf("mirroring slowed the main response: p50 %v vs %v, p99 %v", p50(mirrored), p50(plain), p99(mirrored))
	}
	Eventually(t, 5*time.Second, "the mirror to receive 200 copies", func() bool { return mirror.hits.Load() == 200 })
}

// TestNoHealthyServerAnswers503Quickly: when every server fails its health check, the
// service answers 503 at once instead of trying them.
func TestNoHealthyServerAnswers503Quickly(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	a.healthy.Store(false)
	b.healthy.Store(false)
	w := StartWharf(t, fileStatic(lbFile(t, `
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
  services:
    app:
      loadBalancer:
        healthCheck:
          path: /health
          interval: 50ms
`+servers(a, b))))
	addr := w.Addr("web")
	c := lbClient()
	Eventually(t, 3*time.Second, "503", func() bool {
		_, err := send(c, addr, "app.test", "GET", "")
		return err != nil && strings.HasPrefix(err.Error(), "status 503")
	})
	start := time.Now()
	for i := 0; i < 50; i++ {
		if _, err := send(c, addr, "app.test", "GET", ""); err == nil || !strings.HasPrefix(err.Error(), "status 503") {
			t.Fatalf("request %d: %v; want 503", i, err)
		}
	}
	if d := time.Since(start) / 50; d > 20*time.Millisecond {
		t.Errorf("a 503 took %v on average; want it at once", d)
	}
	if a.hits.Load()+b.hits.Load() != 0 {
		t.Errorf("unhealthy servers got %d requests", a.hits.Load()+b.hits.Load())
	}
	b.healthy.Store(true)
	Eventually(t, 3*time.Second, "b to serve again", func() bool {
		name, err := send(c, addr, "app.test", "GET", "")
		return err == nil && name == "b"
	})
}

// TestReloadKeepsHealth: a server that failed its health check stays out of rotation across
// reloads; new tables do not start from "all healthy". (The sick server's check takes 300ms
// to fail, so a table that forgot would send it requests meanwhile.)
func TestReloadKeepsHealth(t *testing.T) {
	good, sick := newReplica(t, "good"), newReplica(t, "sick")
	sick.healthy.Store(false)
	sick.healthDelay = 300 * time.Millisecond
	cfg := func(gen int) string {
		return fmt.Sprintf(`
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
    filler-%d:
      rule: Host(`+"`filler-%d.test`"+`)
      service: app
  services:
    app:
      loadBalancer:
        healthCheck:
          path: /health
          interval: 30s
          unhealthyInterval: 30s
%s`, gen, gen, servers(good, sick))
	}
	dyn := lbFile(t, cfg(0))
	w := StartWharf(t, fileStatic(dyn))
	w.WaitLog(func(m map[string]any) bool {
		return m["message"] == "server is down: its health check failed" && m["server"] == sick.URL()
	}, 3*time.Second)
	addr := w.Addr("web")
	c := lbClient()
	before := sick.hits.Load()
	applied := w.CountLog("configuration applied")
	for gen := 1; gen <= 5; gen++ {
		writeAtomic(t, dyn, cfg(gen))
		Eventually(t, 3*time.Second, "the reload", func() bool { return w.CountLog("configuration applied") >= applied+gen })
		for i := 0; i < 20; i++ {
			if name, err := send(c, addr, "app.test", "GET", ""); err != nil || name != "good" {
				t.Fatalf("after reload %d: %q %v; want good", gen, name, err)
			}
		}
	}
	if n := sick.hits.Load() - before; n != 0 {
		t.Errorf("the unhealthy server got %d requests across reloads; want 0", n)
	}
}

// tlsFiles are a CA, a server certificate for backend.internal and a client certificate,
// written as PEM files.
type tlsFiles struct {
	dir                   string
	ca                    *x509.CertPool
	serverCert            tls.Certificate
	clientCert, clientKey string
	caFile                string
}

func newTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	f := &tlsFiles{dir: t.TempDir(), ca: x509.NewCertPool()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wharf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	f.ca.AddCert(caCert)
	f.caFile = f.write(t, "ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns ...string) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	sDER, sKey := issue(2, "backend", x509.ExtKeyUsageServerAuth, "backend.internal")
	f.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := issue(3, "wharf-client", x509.ExtKeyUsageClientAuth)
	f.clientCert = f.write(t, "client.pem", "CERTIFICATE", cDER)
	keyDER, _ := x509.MarshalECPrivateKey(cKey)
	f.clientKey = f.write(t, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return f
}

func (f *tlsFiles) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServersTransports: named transports from a file give TLS to backends (server name,
// root CAs, client certificate, or no verification), HTTP/2 on or off, and timeouts.
func TestServersTransports(t *testing.T) {
	f := newTLSFiles(t)
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		client := ""
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s %s", r.TLS.ServerName, r.Proto, client)
	}))
	be.EnableHTTP2 = true
	be.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case fails its handshake on purpose
	be.TLS = &tls.Config{Certificates: []tls.Certificate{f.serverCert}, ClientCAs: f.ca, ClientAuth: tls.RequireAndVerifyClientCert}
	be.StartTLS()
	defer be.Close()
	route := func(name, transport string) string {
		st := ""
		if transport != "" {
			st = "        serversTransport: " + transport + "\n"
		}
		return fmt.Sprintf("    %s:\n      loadBalancer:\n%s        servers:\n          - url: %s\n", name, st, be.URL)
	}
	var routers strings.Builder
	for _, n := range []string{"mtls", "h1", "insecure", "untrusted", "slow"} {
		fmt.Fprintf(&routers, "    %s:\n      rule: Host(`%s.test`)\n      service: %s\n", n, n, n)
	}
	yaml := fmt.Sprintf(`
http:
  serversTransports:
    mtls:
      serverName: backend.internal
      rootCAs: [%[1]q]
      certificates:
        - certFile: %[2]q
          keyFile: %[3]q
    h1:
      serverName: backend.internal
      rootCAs: [%[1]q]
      disableHTTP2: true
      certificates:
        - certFile: %[2]q
          keyFile: %[3]q
    insecure:
      insecureSkipVerify: true
      certificates:
        - certFile: %[2]q
          keyFile: %[3]q
    quick:
      serverName: backend.internal
      rootCAs: [%[1]q]
      certificates:
        - certFile: %[2]q
          keyFile: %[3]q
      forwardingTimeouts:
        responseHeaderTimeout: 100ms
  routers:
%[4]s  services:
%[5]s`, f.caFile, f.clientCert, f.clientKey, routers.String(),
		route("mtls", "mtls")+route("h1", "h1")+route("insecure", "insecure")+route("untrusted", "")+route("slow", "quick"))
	w := StartWharf(t, fileStatic(lbFile(t, yaml)))
	addr := w.Addr("web")
	c := lbClient()
	for _, tc := range []struct{ host, path, want string }{
		{"mtls.test", "/", "200 backend.internal HTTP/2.0 wharf-client"},
		{"h1.test", "/", "200 backend.internal HTTP/1.1 wharf-client"},
		{"insecure.test", "/", "200  HTTP/2.0 wharf-client"},
		{"untrusted.test", "/", "502 Bad Gateway\n"},
		{"slow.test", "/slow", "504 Gateway Timeout\n"},
	} {
		start := time.Now()
		code, body, err := Get(context.Background(), c, addr, tc.host, tc.path)
		if got := fmt.Sprintf("%d %s", code, body); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.host, got, err, tc.want)
		}
		if tc.host == "slow.test" && time.Since(start) > 400*time.Millisecond {
			t.Errorf("the response header timeout of 100ms took %v", time.Since(start))
		}
	}
}
