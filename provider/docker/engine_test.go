package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/testbackend"
	"github.com/wharfproxy/wharf/internal/testdocker"
	"github.com/wharfproxy/wharf/provider"
)

// The tests in this file run against the real engine. They build the test backend image
// once (on first use) and remove it when the package's tests end.
var shared struct {
	once  sync.Once
	eng   *testdocker.Engine
	image string
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.image != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.eng.RemoveImage(ctx, shared.image); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
		}
		cancel()
	}
	os.Exit(code)
}

// realEngine returns the engine and the backend image, or ends the test (see
// testdocker.Require).
func realEngine(t *testing.T) (*testdocker.Engine, string) {
	t.Helper()
	e := testdocker.Require(t)
	shared.once.Do(func() {
		shared.eng = e
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.image, shared.err = e.BuildImage(ctx, testdocker.BackendImage())
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.eng, shared.image
}

// engineCase is one test's view: a provider that only sees the test's own containers.
type engineCase struct {
	t     *testing.T
	e     *testdocker.Engine
	image string
	id    string // value of the org.wharfproxy.test.case label the provider is constrained to
	p     *Provider
	out   <-chan provider.Message
}

func newEngineCase(t *testing.T, cfg Config) *engineCase {
	e, image := realEngine(t)
	c := &engineCase{t: t, e: e, image: image, id: e.Name("case")}
	cfg.Constraints = fmt.Sprintf("Label(`org.wharfproxy.test.case`, `%s`)", c.id)
	p, err := New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	p.backoffMax = 200 * time.Millisecond
	c.p, c.out = p, run(t, p)
	next(t, c.out, 10*time.Second, func(provider.Message) bool { return true })
	return c
}

// labels returns the labels every container of the case carries, plus more.
func (c *engineCase) labels(kv ...string) map[string]string {
	l := map[string]string{"wharf.enable": "true", "org.wharfproxy.test.case": c.id}
	for i := 0; i < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

func (c *engineCase) run(spec testdocker.RunSpec) testdocker.Container {
	c.t.Helper()
	spec.Image = c.image
	return c.e.Run(c.t, spec)
}

func servers(m provider.Message, service string) []string {
	svc := m.Config.HTTP.Services[service]
	if svc == nil || svc.LoadBalancer == nil {
		return nil
	}
	var urls []string
	for _, s := range svc.LoadBalancer.Servers {
		urls = append(urls, s.URL)
	}
	return urls
}

// get fetches a backend directly and returns the name it answers with.
func get(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/probe")
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var echo testbackend.Echo
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return echo.Name
}

func post(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func without(name string) func(provider.Message) bool {
	return func(m provider.Message) bool { return m.Config.HTTP.Routers[name] == nil }
}

func TestEngineRoutesFollowContainers(t *testing.T) {
	c := newEngineCase(t, Config{})
	net1 := c.e.Network(t, "wd")
	ct := c.run(testdocker.RunSpec{Base: "web", Network: net1, NoHealthcheck: true, Env: map[string]string{"NAME": "web-a"},
		Labels: c.labels("wharf.http.routers.web.rule", "Host(`web.test`)")})
	m := next(t, c.out, time.Second, hasRouter("web"))
	want := "http://" + c.e.IP(t, ct.ID, net1) + ":80"
	if got := servers(m, m.Config.HTTP.Routers["web"].Service); len(got) != 1 || got[0] != want {
		t.Fatalf("servers = %v; want [%s]", got, want)
	}
	if name := get(t, want); name != "web-a" {
		t.Fatalf("backend answered as %q", name)
	}
	c.e.Stop(t, ct.ID, time.Second)
	next(t, c.out, time.Second, without("web"))
	c.e.Start(t, ct.ID)
	next(t, c.out, time.Second, hasRouter("web"))
	c.e.Remove(t, ct.ID)
	next(t, c.out, time.Second, without("web"))
}

func TestEngineFollowsHealth(t *testing.T) {
	c := newEngineCase(t, Config{})
	net1 := c.e.Network(t, "wd")
	ct := c.run(testdocker.RunSpec{Base: "health", Network: net1, HealthInterval: 100 * time.Millisecond,
		Labels: c.labels("wharf.http.routers.h.rule", "Host(`h.test`)")})
	// Starting: not served. Healthy after the first check: served within a second of it.
	next(t, c.out, 3*time.Second, hasRouter("h"))
	base := "http://" + c.e.IP(t, ct.ID, net1)
	post(t, base+"/health/fail")
	m := next(t, c.out, 2*time.Second, without("h"))
	if len(m.Errors) > 0 {
		t.Fatalf("an unhealthy container is not an error: %v", m.Errors)
	}
	post(t, base+"/health/ok")
	next(t, c.out, 2*time.Second, hasRouter("h"))
}

func TestEngineMergesReplicas(t *testing.T) {
	c := newEngineCase(t, Config{})
	net1 := c.e.Network(t, "wd")
	project := strings.ReplaceAll(c.id, "-", "")
	var ids []string
	for i := range 2 {
		ct := c.run(testdocker.RunSpec{Base: "replica", Network: net1, NoHealthcheck: true,
			Env:    map[string]string{"NAME": fmt.Sprint("replica-", i)},
			Labels: c.labels(composeService, "web", composeProject, project)})
		ids = append(ids, ct.ID)
	}
	name := "web-" + project
	m := next(t, c.out, 2*time.Second, func(m provider.Message) bool { return len(servers(m, name)) == 2 })
	if r := m.Config.HTTP.Routers[name]; r == nil || r.Rule != "Host(`"+name+"`)" {
		t.Fatalf("router %s = %+v; want the default rule", name, r)
	}
	seen := map[string]bool{}
	for _, u := range servers(m, name) {
		seen[get(t, u)] = true
	}
	if !seen["replica-0"] || !seen["replica-1"] {
		t.Fatalf("servers answered as %v; want both replicas", seen)
	}
	c.e.Stop(t, ids[0], time.Second)
	next(t, c.out, time.Second, func(m provider.Message) bool { return len(servers(m, name)) == 1 })
}

func TestEngineReportsBadLabels(t *testing.T) {
	c := newEngineCase(t, Config{})
	net1 := c.e.Network(t, "wd")
	bad := c.run(testdocker.RunSpec{Base: "bad", Network: net1, NoHealthcheck: true, Labels: c.labels(
		"wharf.http.routers.good.rule", "Host(`good.test`)",
		"wharf.http.routers.bad.rule", "Host(`bad.test`)",
		"wharf.http.routers.bad.priority", "high")})
	c.run(testdocker.RunSpec{Base: "fine", Network: net1, NoHealthcheck: true, Labels: c.labels(
		"wharf.http.routers.fine.rule", "Host(`fine.test`)")})
	m := next(t, c.out, 2*time.Second, func(m provider.Message) bool { return hasRouter("good")(m) && hasRouter("fine")(m) })
	if m.Config.HTTP.Routers["bad"] != nil {
		t.Fatal("the broken router is served")
	}
	want := fmt.Sprintf(`container %q (%s): label "wharf.http.routers.bad.priority" = "high": not an integer`, bad.Name, bad.ID[:12])
	if len(m.Errors) != 1 || !strings.HasPrefix(m.Errors[0].Error(), want) {
		t.Fatalf("errors = %v; want one starting with %s", m.Errors, want)
	}
}

func TestEngineHostNetwork(t *testing.T) {
	c := newEngineCase(t, Config{})
	port := freePort(t)
	c.run(testdocker.RunSpec{Base: "hostnet", Network: "host", NoHealthcheck: true,
		Env: map[string]string{"NAME": "on-host", "PORTS": port},
		Labels: c.labels("wharf.http.routers.hn.rule", "Host(`hn.test`)",
			"wharf.http.services.hn.loadbalancer.server.port", port)})
	m := next(t, c.out, time.Second, hasRouter("hn"))
	want := "http://127.0.0.1:" + port
	if got := servers(m, "hn"); len(got) != 1 || got[0] != want {
		t.Fatalf("servers = %v; want [%s]", got, want)
	}
	waitFor(t, "the host-network backend to listen", func() bool {
		conn, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	if name := get(t, want); name != "on-host" {
		t.Fatalf("backend answered as %q", name)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func TestEngineFollowsNetworksAndRenames(t *testing.T) {
	c := newEngineCase(t, Config{})
	front, back := c.e.Network(t, "front"), c.e.Network(t, "back")
	ct := c.run(testdocker.RunSpec{Base: "multi", Network: back, NoHealthcheck: true,
		Labels: c.labels("wharf.docker.network", front)})
	svc := Normalize(ct.Name)
	m := next(t, c.out, time.Second, hasRouter(svc))
	if got, want := servers(m, svc), "http://"+c.e.IP(t, ct.ID, back)+":80"; len(got) != 1 || got[0] != want {
		t.Fatalf("before connect: servers = %v; want [%s]", got, want)
	}
	c.e.Connect(t, front, ct.ID)
	want := "http://" + c.e.IP(t, ct.ID, front) + ":80"
	next(t, c.out, time.Second, func(m provider.Message) bool {
		s := servers(m, svc)
		return len(s) == 1 && s[0] == want
	})
	renamed := c.e.Name("renamed")
	c.e.Rename(t, ct.ID, renamed)
	next(t, c.out, time.Second, func(m provider.Message) bool { return hasRouter(Normalize(renamed))(m) && without(svc)(m) })
}

// TestEngineSurvivesLostConnection cuts the provider's connection to the engine (through
// a relay socket the test controls), changes containers meanwhile, and restores it: the
// provider must send nothing during the outage (the last routes keep serving) and pick up
// the change after reconnecting.
func TestEngineSurvivesLostConnection(t *testing.T) {
	relay := testdocker.StartRelay(t)
	c := newEngineCase(t, Config{Endpoint: relay.Endpoint()})
	net1 := c.e.Network(t, "wd")
	a := c.run(testdocker.RunSpec{Base: "before", Network: net1, NoHealthcheck: true,
		Labels: c.labels("wharf.http.routers.a.rule", "Host(`a.test`)")})
	next(t, c.out, time.Second, hasRouter("a"))
	waitFor(t, "connected", c.p.Connected)

	relay.Cut()
	waitFor(t, "the provider to notice the outage", func() bool { return !c.p.Connected() })
	c.e.Stop(t, a.ID, time.Second)
	c.run(testdocker.RunSpec{Base: "during", Network: net1, NoHealthcheck: true,
		Labels: c.labels("wharf.http.routers.b.rule", "Host(`b.test`)")})
	select {
	case m := <-c.out:
		t.Fatalf("a message was sent during the outage: routers %v", sortedKeys(m.Config.HTTP.Routers))
	default:
	}
	if err := relay.Resume(); err != nil {
		t.Fatal(err)
	}
	m := next(t, c.out, 5*time.Second, func(provider.Message) bool { return true })
	if m.Config.HTTP.Routers["b"] == nil || m.Config.HTTP.Routers["a"] != nil {
		t.Fatalf("first message after reconnect: routers %v; want b and not a", sortedKeys(m.Config.HTTP.Routers))
	}
	if got := c.p.Reconnects(); got != 1 {
		t.Fatalf("Reconnects() = %d; want 1", got)
	}
}

func TestEngineSnapshot(t *testing.T) {
	e, image := realEngine(t)
	id := e.Name("case")
	p, err := New(Config{Constraints: fmt.Sprintf("Label(`org.wharfproxy.test.case`, `%s`)", id)}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	e.Run(t, testdocker.RunSpec{Image: image, Base: "snap", NoHealthcheck: true,
		Labels: map[string]string{"wharf.enable": "true", "org.wharfproxy.test.case": id, "wharf.http.routers.snap.rule": "Host(`snap.test`)"}})
	m, err := p.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.HTTP.Routers["snap"] == nil || len(m.Errors) > 0 {
		t.Fatalf("snapshot: routers %v, errors %v", sortedKeys(m.Config.HTTP.Routers), m.Errors)
	}
}

func TestEngineUnreachableEndpoint(t *testing.T) {
	p, err := New(Config{Endpoint: "unix:///nonexistent/docker.sock"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.Snapshot(ctx); err == nil || !strings.Contains(err.Error(), "/nonexistent/docker.sock") {
		t.Fatalf("Snapshot error = %v; want one naming the endpoint", err)
	}
}
