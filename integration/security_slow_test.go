package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The slow-client deadlines of the test's wharf. Every slow connection must be closed at
// its deadline; the checks allow a few seconds on top for ramp-up and scheduling.
const (
	slowHeaderTimeout = 2 * time.Second // slowloris, and a TLS handshake that never ends
	slowReadTimeout   = 3 * time.Second // slow body
	slowIdleTimeout   = 2 * time.Second // slow read: a write that makes no progress
)

// slowBackend answers /big with 64 MiB (for slow reading), and anything else with "ok"
// after reading the whole request body.
func slowBackend(t *testing.T) *httptest.Server {
	t.Helper()
	chunk := make([]byte, 32<<10)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(64<<20))
			for i := 0; i < 2048; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

// TestSlowClients runs slowhttptest in its three modes (slow headers, slow body, slow
// read) and a crowd of TLS handshakes that never finish, all at once, against one wharf:
// each slow connection is closed at its deadline, and another client is served
// throughout.
func TestSlowClients(t *testing.T) {
	bin := secTool(t, "slowhttptest")
	be := slowBackend(t)
	w := startSecWharf(t, fmt.Sprintf(`
transport:
  respondingTimeouts:
    readHeaderTimeout: %v
    readTimeout: %v
    idleTimeout: %v`, slowHeaderTimeout, slowReadTimeout, slowIdleTimeout), fmt.Sprintf(`
http:
  routers:
    all:
      rule: PathPrefix(`+"`/`"+`)
      service: be
  services:
%s`, backendYAML("be", be.URL)))
	addr := w.Addr("web")
	by := startHTTP1Bystander(addr)
	t.Cleanup(func() { by.finish(t) }) // after the parallel subtests

	for _, tc := range []struct {
		name     string
		args     []string
		path     string
		deadline time.Duration
	}{
		{"slow_headers", []string{"-H", "-i", "1"}, "/", slowHeaderTimeout},
		{"slow_body", []string{"-B", "-i", "1", "-s", "100000"}, "/", slowReadTimeout},
		// A small window and slow reads keep wharf's writes from progressing; each read
		// takes a few KiB so the tool notices the reset within a second.
		{"slow_read", []string{"-X", "-k", "3", "-w", "512", "-y", "1024", "-n", "1", "-z", "4096"}, "/big", slowIdleTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runSlowHTTPTest(t, bin, addr, tc.path, tc.deadline, tc.args)
		})
	}
	t.Run("tls_handshake_never_completes", func(t *testing.T) {
		t.Parallel()
		stalledHandshakes(t, addr, 50, slowHeaderTimeout)
	})
}

var (
	ansi     = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	endedRE  = regexp.MustCompile(`Test ended on (\d+)th second`)
	statusRE = regexp.MustCompile(`Exit status:\s*(.*)`)
)

// runSlowHTTPTest runs one slowhttptest mode with 100 connections and a 30 s test length:
// it must end early with "No open connections left", within deadline plus slack, and its
// probe must have found the service available every second.
func runSlowHTTPTest(t *testing.T, bin, addr, path string, deadline time.Duration, mode []string) {
	dir := t.TempDir()
	args := append(append([]string{}, mode...), "-c", "100", "-r", "100", "-l", "30", "-p", "3", "-g",
		"-o", filepath.Join(dir, "report"), "-u", "http://"+addr+path)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	p := startProc(t, cmd)
	if !p.wait(45 * time.Second) {
		t.Fatalf("slowhttptest did not end within 45s")
	}
	out := ansi.ReplaceAllString(p.out.String(), "")
	status, ended := "", -1
	if m := statusRE.FindStringSubmatch(out); m != nil {
		status = strings.TrimSpace(m[1])
	}
	if m := endedRE.FindStringSubmatch(out); m != nil {
		ended, _ = strconv.Atoi(m[1])
	}
	t.Logf("slowhttptest %v: %q on second %d", mode, status, ended)
	if status != "No open connections left" {
		t.Errorf("exit status %q; want every connection closed by wharf\n%s", status, tail([]byte(out), 2000))
	}
	// The connections open over the first second or two (three of these run at once, on
	// small machines too); each must be gone at its deadline, long before the 30 s the
	// tool would otherwise run.
	if limit := int((deadline + 8*time.Second) / time.Second); ended < 0 || ended > limit {
		t.Errorf("the last connection closed on second %d; want by second %d", ended, limit)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		f := strings.Split(line, ",")
		if len(f) == 5 && f[4] == "0" {
			t.Errorf("second %d: slowhttptest's probe found the service unavailable (%s)", i, line)
		}
	}
}

// stalledHandshakes opens n connections that send the start of a TLS ClientHello and
// then nothing: wharf must close each at the handshake deadline.
func stalledHandshakes(t *testing.T, addr string, n int, deadline time.Duration) {
	var wg sync.WaitGroup
	var late atomic.Int32
	var worst atomic.Int64
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				late.Add(1)
				return
			}
			defer c.Close()
			c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}) // a record header and two bytes of it
			_ = c.SetReadDeadline(time.Now().Add(deadline + 10*time.Second))
			_, err = io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				late.Add(1)
			}
			d := int64(time.Since(start))
			for {
				old := worst.Load()
				if d <= old || worst.CompareAndSwap(old, d) {
					break
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d stalled TLS handshakes: the last was closed after %v", n, time.Duration(worst.Load()).Round(time.Millisecond))
	if late.Load() > 0 {
		t.Errorf("%d of %d stalled handshakes were still open %v after the deadline", late.Load(), n, 10*time.Second)
	}
	if w := time.Duration(worst.Load()); w > deadline+3*time.Second {
		t.Errorf("the last stalled handshake was closed after %v; the deadline is %v", w, deadline)
	}
}

// startHTTP1Bystander is a client that keeps asking for / over HTTP/1.1 while an attack runs.
func startHTTP1Bystander(addr string) *bystander {
	b := &bystander{stop: make(chan struct{})}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-b.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			res, err := c.Get("http://" + addr + "/bystander")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode != 200 {
				b.failed.Add(1)
				b.firstErr.CompareAndSwap(nil, fmt.Sprintf("%v %v", err, res))
				continue
			}
			b.ok.Add(1)
		}
	}()
	return b
}
