package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/internal/testdocker"
)

// secCaseLabel scopes a wharf to the containers of one security test.
const secCaseLabel = "org.wharfproxy.test.seccase"

// idlePackage is a container that runs and listens on nothing (see testdata/security/idle).
const idlePackage = "github.com/wharfproxy/wharf/integration/testdata/security/idle"

// TestDockerLabelsAreUntrusted runs wharf against the real engine with two hostile
// containers: one whose compose labels are written to break out of the default rule's
// quotes (container names cannot hold quotes; labels can), and one labelled to route to
// wharf's own entrypoint. The first gets a route for a harmless, unusable host and no
// other; the second is stopped by the loop guard with 508, without a CPU spin.
func TestDockerLabelsAreUntrusted(t *testing.T) {
	e := testdocker.Require(t)
	image := e.BuildImageT(t, testdocker.ImageSpec{Package: idlePackage})
	caseID := e.Name("sec")
	w := StartWharf(t, fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  docker:
    endpoint: %q
    constraints: "Label(`+"`%s`, `%s`"+`)"
    defaultRule: 'Host(`+"`"+`{{ index .Labels "com.docker.compose.service" }}.example.com`+"`"+`)'
api:
  address: "127.0.0.1:0"
`, "unix://"+testdocker.EngineSocket(), secCaseLabel, caseID))
	addr := w.Addr("web")
	_, port, _ := net.SplitHostPort(addr)
	Eventually(t, 5*time.Second, "the api address", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.API != "" })

	e.Run(t, testdocker.RunSpec{Base: "inject", Image: image, Labels: map[string]string{
		"wharf.enable": "true", secCaseLabel: caseID,
		"com.docker.compose.service": "x`) || Host(`evil.test", "com.docker.compose.project": "p",
		"wharf.http.services.inj.loadbalancer.server.port": "80",
	}})
	e.Run(t, testdocker.RunSpec{Base: "loop", Image: image, Network: "host", Labels: map[string]string{
		"wharf.enable": "true", secCaseLabel: caseID,
		"wharf.http.routers.loop.rule":                      "Host(`loop.test`)",
		"wharf.http.services.loop.loadbalancer.server.port": port,
	}})

	var routers []struct{ Name, Rule string }
	Eventually(t, 30*time.Second, "both containers' routers in the API", func() bool {
		routers = nil
		res, err := http.Get("http://" + w.API + "/api/http/routers")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		_ = json.NewDecoder(res.Body).Decode(&routers)
		return len(routers) == 2
	})
	t.Run("rule_injection_through_labels", func(t *testing.T) {
		want := "Host(`x-) || Host(-evil.test.example.com`)"
		found := false
		for _, r := range routers {
			found = found || r.Rule == want
			if strings.Contains(r.Rule, "Host(`evil.test`)") {
				t.Errorf("router %s has the injected rule %q", r.Name, r.Rule)
			}
		}
		if !found {
			t.Errorf("no router with the neutralized rule %q; routers: %+v", want, routers)
		}
		code, _, err := Get(context.Background(), &http.Client{Timeout: 5 * time.Second}, addr, "evil.test", "/")
		if err != nil || code != 404 {
			t.Errorf("evil.test: %d %v; want 404 (no route)", code, err)
		}
	})
	t.Run("route_to_wharf_itself_is_a_loop", func(t *testing.T) {
		checkLoopStopped(t, w, addr, "loop.test")
	})
}

// TestLoopGuardFileProvider: a service whose server is wharf's own entrypoint (a mistake
// one line of YAML away) is answered 508 after one extra hop, not proxied in circles.
func TestLoopGuardFileProvider(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, "http: {}\n")
	w := StartWharf(t, secStatic(dyn, ""))
	addr := w.Addr("web")
	applied := w.CountLog("configuration applied")
	writeAtomic(t, dyn, fmt.Sprintf(`
http:
  routers:
    loop:
      rule: Host(`+"`loop.test`"+`)
      service: self
  services:
%s`, backendYAML("self", "http://"+addr)))
	Eventually(t, 10*time.Second, "the looping router applied", func() bool { return w.CountLog("configuration applied") > applied })
	checkLoopStopped(t, w, addr, "loop.test")
}

// checkLoopStopped sends one request into the loop: it must be answered 508 at once, and
// wharf must be idle right after (no requests still circling).
func checkLoopStopped(t *testing.T, w *Wharf, addr, host string) {
	t.Helper()
	start := time.Now()
	code, body, err := Get(context.Background(), &http.Client{Timeout: 10 * time.Second}, addr, host, "/")
	if err != nil || code != http.StatusLoopDetected {
		t.Fatalf("got %d %q %v; want 508 Loop Detected", code, body, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the loop was stopped after %v", d)
	}
	pid := w.cmd.Process.Pid
	before := cpuTicks(pid)
	time.Sleep(time.Second) // measuring a quiet second, not waiting for something
	if used := cpuTicks(pid) - before; used > 30 {
		t.Errorf("wharf used %d clock ticks of CPU in the second after the loop was answered; want it idle", used)
	}
}

// cpuTicks is the user+system CPU time of a process, in clock ticks (usually 1/100 s).
func cpuTicks(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return u + st
}
