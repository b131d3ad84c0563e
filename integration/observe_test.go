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
	"syscall"
	"testing"
	"time"
)

// observeStatic is a static configuration with every observability feature on: metrics (per
// router too) on the API's listener, and a JSON access log in a file.
func observeStatic(dyn, accessLog string) string {
	return fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  file:
    filename: %q
api:
  address: "127.0.0.1:0"
metrics:
  prometheus:
    addRoutersLabels: true
accessLog:
  filePath: %q
  format: json
`, dyn, accessLog)
}

// brokenDynamic has one good router and one whose service key is mistyped.
func brokenDynamic(appURL string) string {
	return fmt.Sprintf(`http:
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: app
    blog:
      rule: Host(`+"`blog.test`"+`)
      servce: app
  services:
    app:
      loadBalancer:
        servers:
          - url: %s
`, appURL)
}

// apiGet fetches a path from wharf's API; out, when not nil, receives the decoded JSON.
func apiGet(t testing.TB, w *Wharf, path string, out any) (int, string) {
	t.Helper()
	Eventually(t, 5*time.Second, "api address in the log", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.API != "" })
	res, err := http.Get("http://" + w.API + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return res.StatusCode, string(b)
}

func countLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestObserveMetricsAccessLogAndAPI runs the real binary with metrics and an access log,
// sends traffic, and reads all three: /metrics, the log file (rotated with SIGUSR1, as
// logrotate does) and the API's view of the broken router.
func TestObserveMetricsAccessLogAndAPI(t *testing.T) {
	dir := t.TempDir()
	dyn, logPath := filepath.Join(dir, "dynamic.yml"), filepath.Join(dir, "access.log")
	app := named(t, "A")
	writeAtomic(t, dyn, brokenDynamic(app.URL))
	w := StartWharf(t, observeStatic(dyn, logPath))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if code, _, err := Get(ctx, http.DefaultClient, w.Addr("web"), "app.test", "/hello?token=s3cr3t"); err != nil || code != 200 {
			t.Fatalf("GET app.test: %d %v", code, err)
		}
	}
	_, metrics := apiGet(t, w, "/metrics", nil)
	for _, want := range []string{
		`wharf_router_requests_total{code="200",method="GET",protocol="http",router="app@file",service="app@file"} 3`,
		`wharf_service_requests_total{code="200",method="GET",protocol="http",service="app@file"} 3`,
		`wharf_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 3`,
		`wharf_config_errors{provider="file"} 1`,
		`wharf_config_reloads_total 1`,
		`wharf_service_server_up{service="app@file",url="` + app.URL + `"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var lines []string
	Eventually(t, 5*time.Second, "3 access log lines", func() bool { lines = countLines(t, logPath); return len(lines) == 3 })
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["RouterName"] != "app@file" || first["DownstreamStatus"] != 200.0 || first["RequestPath"] != "/hello?token=REDACTED" {
		t.Errorf("access log line: %s", lines[0])
	}

	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGUSR1)
	w.WaitLog(func(l map[string]any) bool { return l["message"] == "access log reopened" }, 5*time.Second)
	if _, _, err := Get(ctx, http.DefaultClient, w.Addr("web"), "app.test", "/after"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, "a line in the reopened file", func() bool {
		_, err := os.Stat(logPath)
		return err == nil && len(countLines(t, logPath)) == 1
	})

	var errs []map[string]any
	apiGet(t, w, "/api/errors", &errs)
	if len(errs) != 1 || errs[0]["suggestion"] != "service" || errs[0]["line"] != 8.0 || errs[0]["file"] != dyn {
		t.Errorf("/api/errors = %v", errs)
	}
	var blog map[string]any
	if code, _ := apiGet(t, w, "/api/http/routers/blog@file", &blog); code != 200 || blog["status"] != "disabled" {
		t.Errorf("GET the broken router: %d %v", code, blog)
	}
}

// TestObserveUpstreamAndOpenConnections checks the two hooks outside the observer: the
// forwarder notes the server that answered (the access log's ServiceAddr), and each
// entrypoint's http.Server reports connection states (wharf_open_connections).
func TestObserveUpstreamAndOpenConnections(t *testing.T) {
	dir := t.TempDir()
	dyn, logPath := filepath.Join(dir, "dynamic.yml"), filepath.Join(dir, "access.log")
	app := named(t, "A")
	writeAtomic(t, dyn, brokenDynamic(app.URL))
	w := StartWharf(t, observeStatic(dyn, logPath))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, _, err := Get(ctx, http.DefaultClient, w.Addr("web"), "app.test", "/"); err != nil || code != 200 {
		t.Fatalf("GET app.test: %d %v", code, err)
	}
	var lines []string
	Eventually(t, 5*time.Second, "an access log line", func() bool { lines = countLines(t, logPath); return len(lines) == 1 })
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(app.URL, "http://"); line["ServiceAddr"] != want {
		t.Errorf("ServiceAddr = %v; want %s (the forwarder calls NoteUpstream)", line["ServiceAddr"], want)
	}
	// http.DefaultClient keeps its connection to web open.
	if _, metrics := apiGet(t, w, "/metrics", nil); !strings.Contains(metrics, `wharf_open_connections{entrypoint="web",protocol="TCP"} 1`) {
		t.Errorf("/metrics lacks wharf_open_connections{entrypoint=\"web\",protocol=\"TCP\"} 1 (entrypoints.Config.ConnState)")
	}
}

// TestObserveMistypedKeyVisibleWithinASecond is the promise: a mistake in a
// configuration that is already serving shows, within a second, where it is and the fix, in
// the log and in the API.
func TestObserveMistypedKeyVisibleWithinASecond(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	app := named(t, "A")
	good := strings.Replace(brokenDynamic(app.URL), "servce:", "service:", 1)
	writeAtomic(t, dyn, good)
	w := StartWharf(t, fileStatic(dyn))
	var errs []map[string]any
	if apiGet(t, w, "/api/errors", &errs); len(errs) != 0 {
		t.Fatalf("errors before the mistake: %v", errs)
	}
	start := time.Now()
	writeAtomic(t, dyn, brokenDynamic(app.URL))
	Eventually(t, 5*time.Second, "the error in the API", func() bool { apiGet(t, w, "/api/errors", &errs); return len(errs) > 0 })
	if took := time.Since(start); took > time.Second {
		t.Errorf("the error took %v to show; want under a second", took)
	}
	msg, _ := errs[0]["message"].(string)
	if !strings.Contains(msg, dyn+":8:7") || !strings.Contains(msg, `did you mean "service"?`) {
		t.Errorf("error = %q; want file:line:col and the fix", msg)
	}
	line := w.WaitLog(func(l map[string]any) bool {
		return l["level"] == "error" && strings.Contains(fmt.Sprint(l["message"]), "servce")
	}, time.Second)
	if line["source"] != dyn+":8:7" {
		t.Errorf("log line source = %v", line["source"])
	}
}

func TestObserveMetricsOnTheirOwnAddress(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, brokenDynamic(named(t, "A").URL))
	w := StartWharf(t, fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  file:
    filename: %q
api: false
metrics:
  prometheus:
    address: "127.0.0.1:0"
`, dyn))
	l := w.WaitLog(func(l map[string]any) bool { return l["message"] == "metrics listening" }, 5*time.Second)
	res, err := http.Get(fmt.Sprintf("http://%s/metrics", l["address"]))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "wharf_config_reloads_total 1") {
		t.Errorf("GET /metrics: %d\n%s", res.StatusCode, b)
	}
}

// TestObserveCheck runs `wharf check` as a user would: exit 0 when clean, 1 with the problem
// and its fix, 2 on a usage error, and JSON for scripts.
func TestObserveCheck(t *testing.T) {
	dir := t.TempDir()
	dyn, cfg := filepath.Join(dir, "dynamic.yml"), filepath.Join(dir, "wharf.yml")
	if err := os.WriteFile(cfg, []byte(fileStatic(dyn)), 0o600); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dyn, strings.Replace(brokenDynamic("http://10.0.0.5:8080"), "servce:", "service:", 1))
	out, code := runCheck(t, "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "Host(`app.test`)") || !strings.Contains(out, "http://10.0.0.5:8080") {
		t.Errorf("clean check: exit %d\n%s", code, out)
	}
	writeAtomic(t, dyn, brokenDynamic("http://10.0.0.5:8080"))
	out, code = runCheck(t, "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, dyn+":8:7") || !strings.Contains(out, `fix: write "service"`) {
		t.Errorf("broken check: exit %d\n%s", code, out)
	}
	out, code = runCheck(t, "check", "--config", cfg, "--format", "json")
	var rep struct {
		OK     bool
		Errors []struct{ File, Suggestion string }
		Routes []struct{ EntryPoint, Rule string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK || len(rep.Errors) != 1 ||
		rep.Errors[0].Suggestion != "service" || len(rep.Routes) != 1 || rep.Routes[0].EntryPoint != "web" {
		t.Errorf("json check: exit %d, %v, %+v\n%s", code, err, rep, out)
	}
	if out, code = runCheck(t, "check", "--format", "yaml"); code != 2 {
		t.Errorf("usage error: exit %d; want 2\n%s", code, out)
	}
	if out, code = runCheck(t, "check", "--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("check --help: exit %d\n%s", code, out)
	}
}

func runCheck(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wharfBin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}
