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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// named is a backend that answers with its name.
func named(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

// wsEcho is a WebSocket backend that echoes every message.
func wsEcho(t testing.TB) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func fileStatic(dynamicPath string) string {
	return fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  file:
    filename: %q
api:
  address: "127.0.0.1:0"
`, dynamicPath)
}

func dynamicYAML(appURL, wsURL string, generation int) string {
	return fmt.Sprintf(`
http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
    ws:
      rule: Host(`+"`ws.test`"+`)
      service: ws
    filler-%d:
      rule: Host(`+"`filler-%d.test`"+`)
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: %s
    ws:
      loadBalancer:
        servers:
          - url: %s
`, generation, generation, appURL, wsURL)
}

// TestReloadUnderLoad is the hot-swap promise: while a file is rewritten every 50 ms for
// several seconds, no request fails, every change is served, and a WebSocket opened before
// the first reload is still open after the last.
func TestReloadUnderLoad(t *testing.T) {
	a, b, ws := named(t, "A"), named(t, "B"), wsEcho(t)
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, dynamicYAML(a.URL, ws.URL, 0))
	w := StartWharf(t, fileStatic(dyn))
	addr := w.Addr("web")

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/echo", http.Header{"Host": {"ws.test"}})
	if err != nil {
		t.Fatalf("websocket through wharf: %v", err)
	}
	defer conn.Close()
	echo := func(msg string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("websocket write %q: %v", msg, err)
		}
		_, got, err := conn.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("websocket echo %q: got %q, %v", msg, got, err)
		}
	}
	echo("before")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var ok, failed atomic.Int64
	var seen sync.Map
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 5 * time.Second}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50000 && ctx.Err() == nil; n++ {
				code, body, err := Get(context.Background(), client, addr, "app.test", "/x")
				if err != nil || code != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", code, body, err))
					continue
				}
				ok.Add(1)
				seen.Store(strings.Fields(body)[0], true)
			}
		}()
	}
	reloads := 0
	for gen := 1; ctx.Err() == nil; gen++ {
		target := a.URL
		if gen%2 == 1 {
			target = b.URL
		}
		writeAtomic(t, dyn, dynamicYAML(target, ws.URL, gen))
		reloads++
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	echo("after")

	applied := w.CountLog("configuration applied")
	t.Logf("%d requests ok, %d failed, %d file rewrites, %d tables applied", ok.Load(), failed.Load(), reloads, applied)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed during reloads; first: %v", failed.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests succeeded: the load did not run", ok.Load())
	}
	for _, name := range []string{"A", "B"} {
		if _, ok := seen.Load(name); !ok {
			t.Errorf("backend %s never answered: reloads were not applied", name)
		}
	}
	if applied < 10 {
		t.Errorf("only %d tables applied for %d rewrites", applied, reloads)
	}
}

// TestGracefulShutdown: on SIGTERM wharf stops accepting, lets the request in flight finish,
// and exits 0.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(700 * time.Millisecond)
		fmt.Fprint(w, "finished")
	}))
	defer slow.Close()
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, dynamicYAML(slow.URL, slow.URL, 0))
	w := StartWharf(t, fileStatic(dyn))
	addr := w.Addr("web")

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, body, err := Get(context.Background(), http.DefaultClient, addr, "app.test", "/slow")
		res <- result{code, body, err}
	}()
	<-started
	w.Signal(syscall.SIGTERM)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Errorf("request in flight during SIGTERM: %d %q %v; want 200 finished", r.code, r.body, r.err)
	}
	if err := w.Wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v; want status 0", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after exit")
	}
}

func runWharf(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wharfBin, args...).CombinedOutput()
	return string(out), err
}

func TestStartupErrorsNameTheirSource(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wharf.yml")

	t.Run("port_in_use", func(t *testing.T) {
		os.WriteFile(cfg, []byte(fmt.Sprintf("entryPoints:\n  web:\n    address: %q\napi: false\n", busy.Addr().String())), 0o600)
		out, err := runWharf(t, "--config", cfg)
		if err == nil || !strings.Contains(out, fmt.Sprintf(`entrypoint "web": cannot listen on %q`, busy.Addr().String())) || !strings.Contains(out, "address already in use") {
			t.Errorf("got %v:\n%s", err, out)
		}
	})
	t.Run("unknown_key_with_position_and_suggestion", func(t *testing.T) {
		os.WriteFile(cfg, []byte("entryPoints:\n  web:\n    adress: \":80\"\n"), 0o600)
		out, err := runWharf(t, "--config", cfg)
		if err == nil || !strings.Contains(out, cfg+":3:5") || !strings.Contains(out, `did you mean "address"?`) {
			t.Errorf("got %v:\n%s", err, out)
		}
	})
}

func TestHealthcheckAndVersion(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, dynamicYAML("http://127.0.0.1:1", "http://127.0.0.1:1", 0))
	w := StartWharf(t, fileStatic(dyn))
	Eventually(t, 5*time.Second, "api address in the log", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.API != "" })
	if out, err := runWharf(t, "healthcheck", "--api.address="+w.API); err != nil {
		t.Errorf("healthcheck against a running wharf: %v\n%s", err, out)
	}
	w.Stop()
	if out, err := runWharf(t, "healthcheck", "--api.address="+w.API); err == nil {
		t.Errorf("healthcheck against a stopped wharf succeeded:\n%s", out)
	}
	out, err := runWharf(t, "version")
	if err != nil || !strings.HasPrefix(out, "wharf ") || !strings.Contains(out, "commit:") {
		t.Errorf("version: %v\n%s", err, out)
	}
}

// TestGRPCStyleH2C: a client speaking HTTP/2 with prior knowledge (as gRPC clients without
// TLS do) reaches an h2c:// backend through wharf, streaming both ways, with trailers.
func TestGRPCStyleH2C(t *testing.T) {
	be := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "backend wants HTTP/2, got "+r.Proto, 505)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		body, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("echo:"), body...))
		w.Header().Set("Grpc-Status", "0")
	})}
	be.Protocols = new(http.Protocols)
	be.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go be.Serve(ln)
	t.Cleanup(func() { be.Close() })

	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, dynamicYAML("h2c://"+ln.Addr().String(), "http://127.0.0.1:1", 0))
	w := StartWharf(t, fileStatic(dyn))

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	req, _ := http.NewRequest("POST", "http://"+w.Addr("web")+"/pkg.Service/Method", strings.NewReader("ping"))
	req.Host = "app.test"
	req.Header.Set("Content-Type", "application/grpc")
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != 200 || string(body) != "echo:ping" || res.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("got %s %d %q trailer %v; want HTTP/2 200 echo:ping with Grpc-Status 0", res.Proto, res.StatusCode, body, res.Trailer)
	}
}
