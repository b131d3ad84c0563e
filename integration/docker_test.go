package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/internal/testbackend"
	"github.com/wharfproxy/wharf/internal/testdocker"
)

// caseLabel scopes each wharf to the containers of one test through the constraints
// option, so tests never see each other's containers, nor anyone else's on the engine.
const caseLabel = "org.wharfproxy.test.case"

// dockerEnv is what the Docker end-to-end tests share: the engine, the backend image (built
// once) and a network the backends live on.
type dockerEnv struct {
	e      *testdocker.Engine
	image  string
	net    string
	engine string // the engine's endpoint
}

// dockerCase is one wharf, on the host, watching the engine for one test's containers.
type dockerCase struct {
	*dockerEnv
	t      *testing.T
	id     string
	w      *Wharf
	addr   string
	client *http.Client
}

func (env *dockerEnv) start(t *testing.T, endpoint string) *dockerCase {
	t.Helper()
	// A short timeout: in the instant between a container's stop and wharf's reaction, a
	// request can hang on the vanished address, and a poll must then try again, not wait.
	c := &dockerCase{dockerEnv: env, t: t, id: env.e.Name("case"),
		client: &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}}
	static := fmt.Sprintf(`
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  docker:
    endpoint: %q
    constraints: "Label(`+"`%s`, `%s`"+`)"
api:
  address: "127.0.0.1:0"
`, endpoint, caseLabel, c.id)
	c.w = StartWharf(t, static)
	c.addr = c.w.Addr("web")
	return c
}

func (c *dockerCase) labels(kv ...string) map[string]string {
	l := map[string]string{"wharf.enable": "true", caseLabel: c.id}
	for i := 0; i < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// run starts a backend container named name (NAME env) on the shared network.
func (c *dockerCase) run(name string, spec testdocker.RunSpec) testdocker.Container {
	c.t.Helper()
	spec.Image = c.image
	if spec.Network == "" {
		spec.Network = c.net
	}
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	spec.Env["NAME"] = name
	spec.Base = name
	return c.e.Run(c.t, spec)
}

// get sends a request through wharf and returns the status and the backend's name.
func (c *dockerCase) get(host, path string) (int, testbackend.Echo) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := Get(ctx, c.client, c.addr, host, path)
	var echo testbackend.Echo
	if err != nil {
		return 0, echo
	}
	_ = json.Unmarshal([]byte(body), &echo)
	return code, echo
}

// served polls until host answers as name through wharf.
func (c *dockerCase) served(host, name string, within time.Duration) {
	c.t.Helper()
	Eventually(c.t, within, fmt.Sprintf("%s to be served by %s", host, name), func() bool {
		code, echo := c.get(host, "/")
		return code == http.StatusOK && echo.Name == name
	})
}

// status polls until host answers with code through wharf.
func (c *dockerCase) status(host string, code int, within time.Duration) {
	c.t.Helper()
	Eventually(c.t, within, fmt.Sprintf("%s to answer %d", host, code), func() bool {
		got, _ := c.get(host, "/")
		return got == code
	})
}

// TestDockerEndToEnd runs wharf on the host against the real engine and checks, through
// real HTTP requests, that containers become routes and stop being routes as they change.
func TestDockerEndToEnd(t *testing.T) {
	e := testdocker.Require(t)
	env := &dockerEnv{e: e, image: e.BuildImageT(t, testdocker.BackendImage()),
		engine: "unix://" + testdocker.EngineSocket()}
	env.net = e.Network(t, "e2e")
	t.Run("routes_follow_containers", env.routesFollowContainers)
	t.Run("follows_health", env.followsHealth)
	t.Run("merges_replicas", env.mergesReplicas)
	t.Run("reports_bad_labels", env.reportsBadLabels)
	t.Run("middleware_from_labels", env.middlewareFromLabels)
	t.Run("unreachable_container_answers_503", env.unreachableContainerAnswers503)
	t.Run("host_network", env.hostNetwork)
	t.Run("engine_outage", env.engineOutage)
}

func (env *dockerEnv) routesFollowContainers(t *testing.T) {
	c := env.start(t, env.engine)
	host := "app." + c.id + ".test"
	c.status(host, http.StatusNotFound, time.Second)
	ct := c.run("app", testdocker.RunSpec{NoHealthcheck: true,
		Labels: c.labels("wharf.http.routers.app.rule", "Host(`"+host+"`)")})
	c.served(host, "app", time.Second)
	if _, echo := c.get(host, "/x"); echo.Host != host || echo.Path != "/x" {
		t.Fatalf("backend saw host %q path %q; want the original host (passHostHeader) and path", echo.Host, echo.Path)
	}
	c.e.Stop(t, ct.ID, time.Second)
	c.status(host, http.StatusNotFound, time.Second)
	c.e.Start(t, ct.ID)
	c.served(host, "app", time.Second)
}

func (env *dockerEnv) followsHealth(t *testing.T) {
	c := env.start(t, env.engine)
	host := "health." + c.id + ".test"
	ct := c.run("healthy", testdocker.RunSpec{HealthInterval: 100 * time.Millisecond,
		Labels: c.labels("wharf.http.routers.h.rule", "Host(`"+host+"`)")})
	c.served(host, "healthy", 3*time.Second)
	direct := "http://" + c.e.IP(t, ct.ID, c.net)
	dockerPost(t, direct+"/health/fail")
	c.status(host, http.StatusNotFound, 2*time.Second)
	dockerPost(t, direct+"/health/ok")
	c.served(host, "healthy", 2*time.Second)
}

func (env *dockerEnv) mergesReplicas(t *testing.T) {
	c := env.start(t, env.engine)
	project := strings.ReplaceAll(c.id, "-", "")
	host := "web-" + project // the default rule: Host(`<service>-<project>`)
	for _, name := range []string{"replica-a", "replica-b"} {
		c.run(name, testdocker.RunSpec{NoHealthcheck: true,
			Labels: c.labels("com.docker.compose.service", "web", "com.docker.compose.project", project)})
	}
	seen := map[string]bool{}
	Eventually(t, 3*time.Second, "both replicas to answer", func() bool {
		if code, echo := c.get(host, "/"); code == http.StatusOK {
			seen[echo.Name] = true
		}
		return seen["replica-a"] && seen["replica-b"]
	})
}

func (env *dockerEnv) reportsBadLabels(t *testing.T) {
	c := env.start(t, env.engine)
	good := "good." + c.id + ".test"
	ct := c.run("badlabels", testdocker.RunSpec{NoHealthcheck: true, Labels: c.labels(
		"wharf.http.routers.good.rule", "Host(`"+good+"`)",
		"wharf.http.routers.bad.rule", "Host(`bad."+c.id+".test`)",
		"wharf.http.routers.bad.priority", "high")})
	c.served(good, "badlabels", 2*time.Second)
	want := fmt.Sprintf(`container %q (%s): label "wharf.http.routers.bad.priority" = "high": not an integer`, ct.Name, ct.ID[:12])
	c.w.WaitLog(func(l map[string]any) bool {
		msg, _ := l["message"].(string)
		return l["level"] == "error" && strings.HasPrefix(msg, want)
	}, 2*time.Second)
	if !apiErrorsContain(t, c.w.API, want) {
		t.Fatalf("/api/errors does not report %s", want)
	}
}

func (env *dockerEnv) middlewareFromLabels(t *testing.T) {
	c := env.start(t, env.engine)
	host := "mw." + c.id + ".test"
	c.run("stripped", testdocker.RunSpec{NoHealthcheck: true, Labels: c.labels(
		"wharf.http.routers.mw.rule", "Host(`"+host+"`) && PathPrefix(`/api`)",
		"wharf.http.routers.mw.middlewares", "strip",
		"wharf.http.middlewares.strip.stripprefix.prefixes", "/api")})
	Eventually(t, 2*time.Second, "the stripped path to reach the backend", func() bool {
		code, echo := c.get(host, "/api/items")
		return code == http.StatusOK && echo.Path == "/items"
	})
}

func (env *dockerEnv) unreachableContainerAnswers503(t *testing.T) {
	c := env.start(t, env.engine)
	host := "none." + c.id + ".test"
	c.run("isolated", testdocker.RunSpec{NoHealthcheck: true, Network: "none",
		Labels: c.labels("wharf.http.routers.none.rule", "Host(`"+host+"`)")})
	c.status(host, http.StatusServiceUnavailable, 2*time.Second)
}

func (env *dockerEnv) hostNetwork(t *testing.T) {
	c := env.start(t, env.engine)
	host := "hostnet." + c.id + ".test"
	port := dockerFreePort(t)
	c.run("on-host", testdocker.RunSpec{NoHealthcheck: true, Network: "host", Env: map[string]string{"PORTS": port},
		Labels: c.labels("wharf.http.routers.hn.rule", "Host(`"+host+"`)",
			"wharf.http.services.hn.loadbalancer.server.port", port)})
	c.served(host, "on-host", 2*time.Second)
}

func (env *dockerEnv) engineOutage(t *testing.T) {
	relay := testdocker.StartRelay(t)
	c := env.start(t, relay.Endpoint())
	before, during := "before."+c.id+".test", "during."+c.id+".test"
	c.run("before", testdocker.RunSpec{NoHealthcheck: true,
		Labels: c.labels("wharf.http.routers.before.rule", "Host(`"+before+"`)")})
	c.served(before, "before", time.Second)

	relay.Cut()
	c.w.WaitLog(func(l map[string]any) bool {
		return l["message"] == "Docker engine connection lost; the last routes keep serving"
	}, 5*time.Second)
	// The last routes keep serving while the engine is away...
	for range 5 {
		if code, echo := c.get(before, "/"); code != http.StatusOK || echo.Name != "before" {
			t.Fatalf("during the outage: %d %q; want the last routes to keep serving", code, echo.Name)
		}
	}
	// ...and a change made meanwhile is picked up after the reconnection.
	c.run("during", testdocker.RunSpec{NoHealthcheck: true,
		Labels: c.labels("wharf.http.routers.during.rule", "Host(`"+during+"`)")})
	if code, _ := c.get(during, "/"); code != http.StatusNotFound {
		t.Fatalf("a container started during the outage answered %d before the reconnection", code)
	}
	if err := relay.Resume(); err != nil {
		t.Fatal(err)
	}
	c.served(during, "during", 15*time.Second) // the backoff is capped at 10s
	c.served(before, "before", time.Second)
}

func dockerPost(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func dockerFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// apiErrorsContain reports whether /api/errors lists a message starting with want.
func apiErrorsContain(t *testing.T, api, want string) bool {
	t.Helper()
	resp, err := http.Get("http://" + api + "/api/errors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var errs []struct {
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&errs); err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if strings.HasPrefix(e.Message, want) {
			return true
		}
	}
	return false
}
