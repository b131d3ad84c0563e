// Package integration runs the real wharf binary against real backends, a real Docker engine
// and a real ACME server (Pebble). Everything listens on 127.0.0.1; every process, container,
// network and image a test starts is removed by id when the test ends, even when it fails.
package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wharfBin is the binary under test, built once by TestMain.
var wharfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "../cmd/wharf")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building wharf: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Wharf is a running wharf process.
type Wharf struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the exit error, valid after done

	mu    sync.Mutex
	lines []map[string]any // parsed JSON log lines
	raw   []string
	// EntryPoints maps entrypoint names to the addresses wharf bound (read from its log, so
	// tests can ask for port 0 and never race for a port).
	EntryPoints map[string]string
	API         string
}

// StartWharf writes staticYAML to a file and runs wharf with it (plus args). It waits until
// every entrypoint is listening and the first configuration is applied.
func StartWharf(t testing.TB, staticYAML string, args ...string) *Wharf {
	t.Helper()
	w := startWharf(t, staticYAML, args...)
	w.WaitLog(func(l map[string]any) bool {
		return l["message"] == "configuration applied" || l["message"] == "no configuration after 5s; serving anyway"
	}, 15*time.Second)
	w.WaitLog(func(l map[string]any) bool { return l["message"] == "entrypoint listening" }, 5*time.Second)
	return w
}

func startWharf(t testing.TB, staticYAML string, args ...string) *Wharf {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "wharf.yml")
	if err := os.WriteFile(cfg, []byte(staticYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wharfBin, append([]string{"run", "--config", cfg, "--log.format=json"}, args...)...)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &Wharf{t: t, cmd: cmd, done: make(chan struct{}), EntryPoints: map[string]string{}}
	go w.readLog(stderr)
	t.Cleanup(func() {
		w.Stop()
		if t.Failed() {
			t.Logf("wharf log:\n%s", strings.Join(w.Raw(), "\n"))
		}
	})
	return w
}

func (w *Wharf) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		w.mu.Lock()
		w.raw = append(w.raw, line)
		if m != nil {
			w.lines = append(w.lines, m)
			switch m["message"] {
			case "entrypoint listening":
				w.EntryPoints[fmt.Sprint(m["entrypoint"])] = fmt.Sprint(m["address"])
			case "api listening":
				w.API = fmt.Sprint(m["address"])
			}
		}
		w.mu.Unlock()
	}
	w.err = w.cmd.Wait()
	close(w.done)
}

// Raw returns every log line so far.
func (w *Wharf) Raw() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.raw...)
}

// Addr returns the bound address of an entrypoint.
func (w *Wharf) Addr(ep string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.EntryPoints[ep]
	if !ok {
		w.t.Fatalf("entrypoint %q is not listening; have %v", ep, w.EntryPoints)
	}
	return a
}

// WaitLog waits until a log line satisfies match, and returns it.
func (w *Wharf) WaitLog(match func(map[string]any) bool, timeout time.Duration) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for seen := 0; ; {
		w.mu.Lock()
		lines := w.lines[seen:]
		seen = len(w.lines)
		w.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		select {
		case <-w.done:
			w.t.Fatalf("wharf exited (%v) before the expected log line; log:\n%s", w.err, strings.Join(w.Raw(), "\n"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no matching log line within %v; log:\n%s", timeout, strings.Join(w.Raw(), "\n"))
		}
	}
}

// CountLog counts the log lines whose message is msg.
func (w *Wharf) CountLog(msg string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if l["message"] == msg {
			n++
		}
	}
	return n
}

// Signal sends sig to wharf.
func (w *Wharf) Signal(sig syscall.Signal) {
	_ = w.cmd.Process.Signal(sig)
}

// Wait waits for wharf to exit and returns its exit error.
func (w *Wharf) Wait(timeout time.Duration) error {
	select {
	case <-w.done:
		return w.err
	case <-time.After(timeout):
		w.t.Fatalf("wharf did not exit within %v", timeout)
		return nil
	}
}

// Stop ends wharf (SIGTERM, then SIGKILL after 10s), by its own PID.
func (w *Wharf) Stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// Get sends a request for host+path to an entrypoint.
func Get(ctx context.Context, c *http.Client, addr, host, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// Eventually polls cond until it returns true or the deadline passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeAtomic replaces a file the way careful editors and config tools do: write a temporary
// file beside it, then rename it over the original.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
