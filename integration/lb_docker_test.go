package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/internal/testbackend"
	"github.com/wharfproxy/wharf/internal/testdocker"
)

// TestDockerLoadBalancing runs replicas of a compose service as real containers and checks
// that Docker health and scaling move traffic without failed requests.
func TestDockerLoadBalancing(t *testing.T) {
	e := testdocker.Require(t)
	env := &dockerEnv{e: e, image: e.BuildImageT(t, testdocker.BackendImage()),
		engine: "unix://" + testdocker.EngineSocket()}
	env.net = e.Network(t, "lb")
	t.Run("unhealthy_container_leaves_within_a_second", env.unhealthyLeaves)
	t.Run("scaling_up_and_down_fails_no_request", env.scaling)
}

// replicaOf starts one replica of the compose service "web" of the case's project, with a
// fast Docker health check, and returns the host that routes to the service.
func (c *dockerCase) replicaOf(name string) (testdocker.Container, string) {
	c.t.Helper()
	project := strings.ReplaceAll(c.id, "-", "")
	ct := c.run(name, testdocker.RunSpec{HealthInterval: 100 * time.Millisecond,
		Labels: c.labels("com.docker.compose.service", "web", "com.docker.compose.project", project)})
	return ct, "web-" + project // the default rule: Host(`<service>-<project>`)
}

// replicaName is the replica that answered, from the test backend's JSON echo.
func replicaName(body string) string {
	var e testbackend.Echo
	_ = json.Unmarshal([]byte(body), &e)
	return e.Name
}

// lastFrom is when the last request answered by name started, among results.
func lastFrom(results []result, name string) time.Time {
	var last time.Time
	for _, r := range results {
		if r.err == nil && replicaName(r.name) == name && r.start.After(last) {
			last = r.start
		}
	}
	return last
}

// waitServed polls until every name has answered on host.
func (c *dockerCase) waitServed(host string, within time.Duration, names ...string) {
	c.t.Helper()
	seen := map[string]bool{}
	Eventually(c.t, within, "every replica to answer", func() bool {
		if code, echo := c.get(host, "/"); code == http.StatusOK {
			seen[echo.Name] = true
		}
		for _, n := range names {
			if !seen[n] {
				return false
			}
		}
		return true
	})
}

func (env *dockerEnv) unhealthyLeaves(t *testing.T) {
	c := env.start(t, env.engine)
	sick, host := c.replicaOf("sick")
	c.replicaOf("well")
	c.waitServed(host, 5*time.Second, "sick", "well")
	l := startLoad(c.addr, host, 4, 100000)
	begin := time.Now()
	Eventually(t, 2*time.Second, "traffic", func() bool { return l.okSince(begin) > 100 })
	failAt := time.Now()
	dockerPost(t, "http://"+c.e.IP(t, sick.ID, c.net)+"/health/fail")
	c.e.WaitHealth(t, sick.ID, "unhealthy", 3*time.Second)
	unhealthyAt := time.Now()
	Eventually(t, 3*time.Second, "traffic after", func() bool { return l.okSince(unhealthyAt.Add(time.Second)) > 200 })
	results := l.stop()
	last := lastFrom(results, "sick")
	t.Logf("%d requests; health failed at +0, Docker said unhealthy at +%v, last request to it at +%v",
		len(results), unhealthyAt.Sub(failAt).Round(time.Millisecond), last.Sub(failAt).Round(time.Millisecond))
	if f := countFailures(results, failAt); f.total() != 0 {
		t.Errorf("%d requests failed; want 0 (first: %v)", f.total(), f.first)
	}
	if last.Sub(unhealthyAt) > time.Second {
		t.Errorf("the unhealthy container got traffic %v after Docker reported it unhealthy; want under a second", last.Sub(unhealthyAt))
	}
}

func (env *dockerEnv) scaling(t *testing.T) {
	c := env.start(t, env.engine)
	r1, host := c.replicaOf("web-1")
	c.replicaOf("web-2")
	c.waitServed(host, 5*time.Second, "web-1", "web-2")
	l := startLoad(c.addr, host, 4, 100000)
	begin := time.Now()
	Eventually(t, 2*time.Second, "traffic", func() bool { return l.okSince(begin) > 100 })

	c.replicaOf("web-3") // scale up
	upAt := time.Now()
	Eventually(t, 5*time.Second, "the new replica to receive traffic", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return !lastFrom(l.results, "web-3").IsZero()
	})
	servedAfter := time.Since(upAt)

	downAt := time.Now()
	c.e.Stop(t, r1.ID, 5*time.Second) // scale down: SIGTERM, the replica drains and exits
	Eventually(t, 3*time.Second, "traffic after the scale-down", func() bool { return l.okSince(time.Now().Add(-500*time.Millisecond)) > 200 })
	results := l.stop()
	last := lastFrom(results, "web-1")
	t.Logf("%d requests; new replica served %v after it started; docker stop began %v after that; stopped replica's last request +%v after docker stop began",
		len(results), servedAfter.Round(time.Millisecond), downAt.Sub(upAt).Round(time.Millisecond), last.Sub(downAt).Round(time.Millisecond))
	f := countFailures(results, downAt)
	t.Logf("failed before the scale-down: %d GET, %d POST; after: %d GET, %d POST", f.before["GET"], f.before["POST"], f.after["GET"], f.after["POST"])
	if n := f.before["GET"] + f.after["GET"]; n != 0 {
		t.Errorf("%d GETs failed while scaling; want 0 (first: %v)", n, f.first)
	}
	// A POST written to a keep-alive connection at the instant the stopping replica closes it
	// may have been received: it is never sent again, so it can fail. One per client at most.
	if n := f.total(); n > 4 {
		t.Errorf("%d requests failed while scaling; want at most one POST per client (first: %v)", n, f.first)
	}
}
