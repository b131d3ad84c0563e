package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wharfproxy/wharf/internal/testbackend"
	"github.com/wharfproxy/wharf/internal/testdocker"
	"github.com/wharfproxy/wharf/internal/testpebble"
)

// TestExamples runs every compose example in examples/ for real, with docker-compose, and
// checks that its routes answer as its README says, through wharf.
//
// What the tests change, and why, is all in this file:
//   - images: wharf is the image `make image` builds; the apps (traefik/whoami in the
//     examples) are the test backend image, and tecnativa/docker-socket-proxy is the small
//     read-only proxy in testdata/socketproxy: no registry is reachable here;
//   - published ports are removed: tests may not bind fixed host ports, so they reach wharf
//     at its container's address, or on the host network where Pebble or the test's own
//     servers listen on 127.0.0.1;
//   - wharf's docker provider is constrained to the test's compose project, so examples
//     running side by side (and other tests) never see each other's containers.
//
// Everything else (labels, wharf.yml, dynamic files, volumes, networks) is the example's.
func TestExamples(t *testing.T) {
	e := testdocker.Require(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatalf("the examples run with docker-compose (Debian: apt install docker-compose): %v", err)
	}
	x := &examples{e: e}
	x.wharf = buildWharfImage(t, e, imageStamp{})
	x.backend = e.BuildImageT(t, testdocker.BackendImage())
	x.proxy = e.BuildImageT(t, testdocker.ImageSpec{
		Package: "github.com/wharfproxy/wharf/integration/testdata/socketproxy", Expose: []string{"2375/tcp"}})
	t.Run("compose-basic", x.composeBasic)
	t.Run("home-server", x.homeServer)
	t.Run("file-provider", x.fileProvider)
	t.Run("traefik-migration", x.traefikMigration)
	t.Run("socket-proxy", x.socketProxy)
	t.Run("readme-quick-start", x.readmeQuickStart)
}

// examples holds the images every example test uses.
type examples struct {
	e                     *testdocker.Engine
	wharf, backend, proxy string
}

// service is one service of a compose file, as a YAML map.
type service = map[string]any

func (x *examples) composeBasic(t *testing.T) {
	t.Parallel()
	s := x.stack(t, "compose-basic")
	s.env = append(s.env, "DOCKER_GID="+socketGID(t))
	s.files = []string{s.rewrite("docker-compose.yml", func(svcs map[string]service) { delete(svcs["wharf"], "ports") })}
	s.override(map[string]service{
		"wharf":  x.wharfService(s),
		"whoami": x.backendService("whoami"),
		"api":    x.backendService(""), // each replica answers with its own hostname
	})
	s.up()
	c := s.client(s.ip("wharf", "default") + ":80")

	c.served(t, "whoami.localhost", "/", "whoami")
	replicas := map[string]bool{}
	for _, id := range s.ids("api") {
		replicas[id[:12]] = true // a container's hostname is its short id
	}
	if len(replicas) != 2 {
		t.Fatalf("api runs %d replicas; the example declares 2", len(replicas))
	}
	seen := map[string]bool{}
	Eventually(t, 20*time.Second, "both api replicas to answer", func() bool {
		if code, echo := c.get("api.localhost", "/"); code == http.StatusOK {
			if !replicas[echo.Name] {
				t.Fatalf("api.localhost answered by %q, not one of the api replicas %v", echo.Name, replicas)
			}
			seen[echo.Name] = true
		}
		return len(seen) == 2
	})
	if code, _ := c.get("nothing.localhost", "/"); code != http.StatusNotFound {
		t.Errorf("an unknown host answered %d; want 404", code)
	}
}

func (x *examples) socketProxy(t *testing.T) {
	t.Parallel()
	s := x.stack(t, "socket-proxy")
	s.files = []string{s.rewrite("docker-compose.yml", func(svcs map[string]service) { delete(svcs["wharf"], "ports") })}
	s.override(map[string]service{
		"socket-proxy": {"image": x.proxy},
		"wharf":        x.wharfService(s),
		"whoami":       x.backendService("whoami"),
	})
	s.up()
	c := s.client(s.ip("wharf", "apps") + ":80")
	c.served(t, "whoami.localhost", "/", "whoami")

	wharfID := s.ids("wharf")[0]
	if mounts := s.inspect(wharfID, "{{range .Mounts}}{{.Source}} {{end}}"); strings.Contains(mounts, "docker.sock") {
		t.Errorf("wharf's container mounts the Docker socket (%s); the example is about not doing that", mounts)
	}
	if nets := s.inspect(s.ids("whoami")[0], "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); strings.Contains(nets, s.project+"_socket") {
		t.Errorf("whoami is on the socket network (%s); only wharf may reach the proxy", nets)
	}
	proxy := "http://" + s.ip("socket-proxy", "socket") + ":2375"
	if code := statusOf(t, http.MethodGet, proxy+"/_ping"); code != http.StatusOK {
		t.Errorf("GET /_ping through the proxy: %d; want 200", code)
	}
	if code := statusOf(t, http.MethodPost, proxy+"/containers/create"); code != http.StatusForbidden {
		t.Errorf("POST /containers/create through the proxy: %d; want 403", code)
	}
}

func (x *examples) traefikMigration(t *testing.T) {
	t.Parallel()
	s := x.stack(t, "traefik-migration")
	s.env = append(s.env, "DOCKER_GID="+socketGID(t))
	// docker-compose.yml is the Traefik user's file: only its published ports go.
	s.files = []string{
		s.rewrite("docker-compose.yml", func(svcs map[string]service) { delete(svcs["traefik"], "ports") }),
		filepath.Join(s.dir, "compose.wharf.yml"),
	}
	s.override(map[string]service{
		"traefik": x.wharfService(s),
		"whoami":  x.backendService("whoami"),
		"blog":    x.backendService("blog"),
	})
	s.up()
	ip := s.ip("traefik", "default")
	c := s.client(ip + ":80")

	c.served(t, "whoami.localhost", "/", "whoami")
	res := c.do(t, "whoami.localhost", "/")
	if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q; want DENY (headers.framedeny=true)", got)
	}
	if got := res.Header.Get("X-Served-By"); got != "edge" {
		t.Errorf("X-Served-By %q; want edge (headers.customresponseheaders)", got)
	}
	echo := c.served(t, "example.localhost", "/blog/post", "blog")
	if echo.Path != "/post" {
		t.Errorf("blog saw path %q; want /post (stripprefix)", echo.Path)
	}
	// --api.insecure=true: the API on :8080, where Traefik's was.
	if code := statusOf(t, http.MethodGet, "http://"+ip+":8080/api/overview"); code != http.StatusOK {
		t.Errorf("GET :8080/api/overview: %d; want 200", code)
	}
}

func (x *examples) homeServer(t *testing.T) {
	t.Parallel()
	p := testpebble.Start(t)
	s := x.stack(t, "home-server")
	const domain = "home.test"
	// .env edited as the README says. The password is "correct horse battery staple"; the
	// hash's $ signs go through .env and the compose file's interpolation unharmed.
	s.envFile = editEnv(t, filepath.Join(s.dir, ".env"), map[string]string{
		"DOMAIN":          domain,
		"ACME_EMAIL":      "ci@example.com",
		"DASHBOARD_USERS": `'admin:$2a$05$aY2HUzgSlA/9VL60f3qCk.GxOY9HMNnwWlcDQKuD79eg6/SSdpAGW'`,
	})
	// Pebble listens on the host's loopback and validates on 127.0.0.1 at the ports it
	// picked: wharf joins the host's network and listens there, with its API on a free port.
	s.files = []string{s.rewrite("docker-compose.yml", func(svcs map[string]service) { onHostNetwork(svcs["wharf"]) })}
	apiPort := freeLoopbackPort(t)
	dyn := exampleCopy(t, s.dir, "dynamic", map[string]string{"http://127.0.0.1:8080": fmt.Sprintf("http://127.0.0.1:%d", apiPort)})
	ca := exampleCopy(t, filepath.Dir(p.RootsPEM), filepath.Base(p.RootsPEM), nil)
	wharf := x.wharfService(s)
	env := wharf["environment"].(map[string]string)
	for k, v := range map[string]string{
		"WHARF_ENTRYPOINTS_WEB_ADDRESS":                      fmt.Sprintf("127.0.0.1:%d", p.HTTPPort),
		"WHARF_ENTRYPOINTS_WEBSECURE_ADDRESS":                fmt.Sprintf("127.0.0.1:%d", p.TLSPort),
		"WHARF_API_ADDRESS":                                  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"WHARF_CERTIFICATESRESOLVERS_LE_ACME_CASERVER":       p.DirectoryURL,
		"WHARF_CERTIFICATESRESOLVERS_LE_ACME_CACERTIFICATES": "/pebble/ca/" + filepath.Base(p.RootsPEM),
		"WHARF_CERTIFICATESRESOLVERS_LE_ACME_PROFILE":        "default", // Pebble picks a random one otherwise
	} {
		env[k] = v
	}
	wharf["volumes"] = []string{dyn + ":/etc/wharf/dynamic:ro", ca + ":/pebble/ca:ro"}
	services := map[string]service{"wharf": wharf, "socket-proxy": {"image": x.proxy},
		"whoami": x.backendService("whoami"), "api": x.backendService("api")}
	s.override(services)
	// The proxy first: wharf, on the host network, reaches it at its address on the
	// internal network, where the example's wharf uses the name socket-proxy.
	s.up("socket-proxy")
	env["WHARF_PROVIDERS_DOCKER_ENDPOINT"] = "tcp://" + s.ip("socket-proxy", "socket") + ":2375"
	s.override(services)
	s.up()

	wharfID := s.ids("wharf")[0]
	// Every process of the container: wharf, and the image's health check when it happens
	// to be running (`wharf healthcheck`, as the same user).
	if uids := processUIDs(t, s.e, wharfID); len(uids) == 0 || slices.ContainsFunc(uids, func(u string) bool { return u != "65532" }) {
		t.Errorf("wharf's container runs processes as uid %v; want 65532 only", uids)
	}
	hc := tlsClient(fmt.Sprintf("127.0.0.1:%d", p.TLSPort), p.IssuedRoots())
	_, serial := pollHTTPS(t, hc, "whoami."+domain, "/", "whoami")
	if echo, _ := pollHTTPS(t, hc, domain, "/api/users", "api"); echo.Path != "/users" {
		t.Errorf("the api saw %q; want /users (stripPrefix /api)", echo.Path)
	}
	dashboard := "wharf." + domain
	Eventually(t, 30*time.Second, "the dashboard to ask for a password", func() bool {
		code, _, _ := httpsDo(hc, dashboard, "/api/overview", nil)
		return code == http.StatusUnauthorized
	})
	auth := http.Header{"Authorization": {"Basic " + basicAuth("admin", "correct horse battery staple")}}
	code, body, _ := httpsDo(hc, dashboard, "/api/overview", auth)
	var overview map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &overview) != nil {
		t.Errorf("dashboard with the password: %d %.200s; want 200 and the API's JSON", code, body)
	}
	if code, _, _ := httpsDo(hc, dashboard, "/api/overview", http.Header{"Authorization": {"Basic " + basicAuth("admin", "wrong")}}); code != http.StatusUnauthorized {
		t.Errorf("dashboard with a wrong password: %d; want 401", code)
	}
	checkRedirect(t, s.client(fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)), "whoami."+domain, fmt.Sprintf("https://whoami.%s:%d/x?y=1", domain, p.TLSPort))

	// A new wharf container, with the CA down, serves the certificate kept in /data.
	p.Stop()
	s.must("up", "--detach", "--no-deps", "--force-recreate", "wharf")
	newID := s.ids("wharf")[0]
	if newID == wharfID {
		t.Fatal("docker-compose up --force-recreate kept the same container")
	}
	s.e.WaitHealth(t, newID, "healthy", 30*time.Second)
	if _, again := pollHTTPS(t, hc, "whoami."+domain, "/", "whoami"); again != serial {
		t.Errorf("after recreating wharf the certificate's serial is %s; want %s, the one kept in /data", again, serial)
	}
}

func (x *examples) fileProvider(t *testing.T) {
	t.Parallel()
	s := x.stack(t, "file-provider")
	app, appV2, nas := startBackend(t, "app", false), startBackend(t, "app-v2", false), startBackend(t, "nas", true)
	photos1, photos2 := startBackend(t, "photos-1", false), startBackend(t, "photos-2", false)
	// The example's addresses, pointed at the test's servers on the host's loopback.
	addrs := map[string]string{
		"http://host.docker.internal:3000": app.URL,
		"https://192.168.1.10:5001":        nas.URL,
		"http://192.168.1.21:2342":         photos1.URL,
		"http://192.168.1.22:2342":         photos2.URL,
	}
	dyn := exampleCopy(t, s.dir, "dynamic", addrs)
	certs, roots := selfSignedDir(t, "home.arpa", "*.home.arpa")
	ports := [3]int{freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)}
	s.files = []string{s.rewrite("docker-compose.yml", func(svcs map[string]service) { onHostNetwork(svcs["wharf"]) })}
	s.override(map[string]service{"wharf": {
		"image":       x.wharf,
		"healthcheck": map[string]any{"interval": "1s"},
		"environment": map[string]string{
			"WHARF_ENTRYPOINTS_WEB_ADDRESS":       fmt.Sprintf("127.0.0.1:%d", ports[0]),
			"WHARF_ENTRYPOINTS_WEBSECURE_ADDRESS": fmt.Sprintf("127.0.0.1:%d", ports[1]),
			"WHARF_API_ADDRESS":                   fmt.Sprintf("127.0.0.1:%d", ports[2]),
		},
		"volumes": []string{dyn + ":/etc/wharf/dynamic:ro", certs + ":/etc/wharf/certs:ro"},
	}})
	s.up()

	hc := tlsClient(fmt.Sprintf("127.0.0.1:%d", ports[1]), roots)
	pollHTTPS(t, hc, "app.home.arpa", "/", "app")
	pollHTTPS(t, hc, "nas.home.arpa", "/", "nas") // through the transport that skips verifying the NAS
	seen := map[string]bool{}
	Eventually(t, 20*time.Second, "both photos servers to answer", func() bool {
		if code, body, _ := httpsDo(hc, "photos.home.arpa", "/", nil); code == http.StatusOK {
			seen[echoName(body)] = true
		}
		return seen["photos-1"] && seen["photos-2"]
	})
	checkRedirect(t, s.client(fmt.Sprintf("127.0.0.1:%d", ports[0])), "app.home.arpa", fmt.Sprintf("https://app.home.arpa:%d/x?y=1", ports[1]))

	// The watch: an edit saved the way editors save (a new file renamed over the old one)
	// applies without a restart.
	routes := filepath.Join(dyn, "routes.yml")
	b, err := os.ReadFile(routes)
	if err != nil {
		t.Fatal(err)
	}
	writeReadable(t, routes, strings.ReplaceAll(string(b), app.URL, appV2.URL))
	pollHTTPS(t, hc, "app.home.arpa", "/", "app-v2")
}

// readmeQuickStart runs the compose file of README.md's quick start, as a user pastes it.
func (x *examples) readmeQuickStart(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Quick start with Docker Compose")
	_, block, ok2 := strings.Cut(after, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no yaml block under \"## Quick start with Docker Compose\"")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	s := x.stackIn(t, "quick-start", dir)
	s.env = append(s.env, "DOCKER_GID="+socketGID(t))
	s.files = []string{s.rewrite("compose.yml", func(svcs map[string]service) { delete(svcs["wharf"], "ports") })}
	s.override(map[string]service{"wharf": x.wharfService(s), "whoami": x.backendService("whoami")})
	s.up()
	s.client(s.ip("wharf", "default")+":80").served(t, "whoami.localhost", "/", "whoami")
}

// stack is one compose project started from an example directory.
type stack struct {
	t       *testing.T
	e       *testdocker.Engine
	project string
	dir     string   // the example: the project directory, so relative paths and .env resolve there
	files   []string // -f files, in order; the override is added last
	env     []string // extra environment for docker-compose
	envFile string   // --env-file, when the test edits the example's .env
	over    string   // the test's override file
	tmp     string   // where rewritten compose files go
}

// stack prepares a project for one example; everything it creates is removed at the end.
func (x *examples) stack(t *testing.T, example string) *stack {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	return x.stackIn(t, example, dir)
}

// stackIn prepares a project whose files are in dir.
func (x *examples) stackIn(t *testing.T, example, dir string) *stack {
	t.Helper()
	// Compose project names keep only [a-z0-9]; the run id makes this one unique.
	project := "wharfex" + x.e.RunID + regexp.MustCompile(`[^a-z0-9]`).ReplaceAllString(example, "")
	// The temporary directory is made before the cleanup below is registered, so that it is
	// removed after `down`, which reads the files in it.
	s := &stack{t: t, e: x.e, project: project, dir: dir, tmp: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.compose(time.Minute, "logs", "--no-color", "--tail", "60")
			t.Logf("docker-compose logs of %s:\n%s", example, out)
		}
		if out, err := s.compose(2*time.Minute, "down", "--volumes", "--rmi", "local", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("cleanup: docker-compose down: %v\n%s", err, out)
		}
	})
	return s
}

// compose runs docker-compose on the project.
func (s *stack) compose(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := []string{"--project-name", s.project, "--project-directory", s.dir}
	if s.envFile != "" {
		full = append(full, "--env-file", s.envFile)
	}
	for _, f := range s.files {
		full = append(full, "--file", f)
	}
	if s.over != "" {
		full = append(full, "--file", s.over)
	}
	cmd := exec.CommandContext(ctx, "docker-compose", append(full, args...)...)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *stack) must(args ...string) string {
	s.t.Helper()
	out, err := s.compose(3*time.Minute, args...)
	if err != nil {
		s.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// up starts services (all when none is named) and waits until wharf, if started, is healthy
// by the image's own health check.
func (s *stack) up(services ...string) {
	s.t.Helper()
	start := time.Now()
	s.must(append([]string{"up", "--detach", "--no-build"}, services...)...)
	s.t.Logf("docker-compose up %v: %v", services, time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"wharf", "traefik"} {
		if ids := s.ids(name); len(ids) > 0 {
			s.e.WaitHealth(s.t, ids[0], "healthy", 30*time.Second)
		}
	}
}

// ids lists the containers of a service ("" when the service does not exist).
func (s *stack) ids(service string) []string {
	out, err := s.compose(time.Minute, "ps", "-q", service)
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

func (s *stack) inspect(id, format string) string {
	s.t.Helper()
	out, err := s.e.Docker(context.Background(), "inspect", "--format", format, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// ip is the address of a service's first container on one of the project's networks.
func (s *stack) ip(service, network string) string {
	s.t.Helper()
	ids := s.ids(service)
	if len(ids) == 0 {
		s.t.Fatalf("service %s has no container", service)
	}
	ip := s.e.IP(s.t, ids[0], s.project+"_"+network)
	if ip == "" {
		s.t.Fatalf("service %s is not on network %s", service, network)
	}
	return ip
}

// rewrite copies one of the example's compose files with edit applied to its services, and
// returns the copy's path.
func (s *stack) rewrite(file string, edit func(map[string]service)) string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		s.t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		s.t.Fatalf("%s: %v", file, err)
	}
	svcs := map[string]service{}
	raw, _ := doc["services"].(map[string]any)
	for name, v := range raw {
		m, _ := v.(map[string]any)
		svcs[name] = m
	}
	edit(svcs)
	return s.writeYAML(file, doc)
}

// override writes the test's override file, the last -f file.
func (s *stack) override(services map[string]service) {
	s.t.Helper()
	s.over = s.writeYAML("test-override.yml", map[string]any{"version": "3.8", "services": services})
}

func (s *stack) writeYAML(name string, doc any) string {
	s.t.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		s.t.Fatal(err)
	}
	path := filepath.Join(s.tmp, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// onHostNetwork moves a service to the host's network namespace.
func onHostNetwork(svc service) {
	delete(svc, "ports")
	delete(svc, "networks")
	svc["network_mode"] = "host"
}

// wharfService is the override of the wharf service: the image under test, the docker
// provider kept to this project, and the image's health check run every second.
func (x *examples) wharfService(s *stack) service {
	return service{
		"image":       x.wharf,
		"healthcheck": map[string]any{"interval": "1s"},
		"environment": map[string]string{
			"WHARF_PROVIDERS_DOCKER_CONSTRAINTS": fmt.Sprintf("Label(`com.docker.compose.project`, `%s`)", s.project),
		},
	}
}

// backendService replaces an app's image by the test backend, which answers as name (or as
// its hostname when name is "").
func (x *examples) backendService(name string) service {
	svc := service{"image": x.backend}
	if name != "" {
		svc["environment"] = map[string]string{"NAME": name}
	}
	return svc
}

// client sends requests to one wharf entrypoint.
type client struct {
	addr string
	http *http.Client
}

func (s *stack) client(addr string) *client {
	return &client{addr: addr, http: &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get asks for host+path and decodes the backend's answer (zero when it is not one).
func (c *client) get(host, path string) (int, testbackend.Echo) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := Get(ctx, c.http, c.addr, host, path)
	var echo testbackend.Echo
	if err != nil {
		return 0, echo
	}
	_ = json.Unmarshal([]byte(body), &echo)
	return code, echo
}

// served polls until host+path is answered by the backend named name, and returns its echo.
func (c *client) served(t *testing.T, host, path, name string) testbackend.Echo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, echo := c.get(host, path)
		if code == http.StatusOK && echo.Name == name {
			return echo
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s: %d from %q; want 200 from %s", host, path, code, echo.Name, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends one request and returns the response with its body read and closed.
func (c *client) do(t *testing.T, host, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// statusOf sends one request straight to url and returns the status (0 on error).
func statusOf(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Logf("%s %s: %v", method, url, err)
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago, for wharf on the
// host network (whose addresses the test must know before it starts).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tlsClient sends HTTPS requests to addr for any host name, trusting only roots.
func tlsClient(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpsDo asks https://host+path through c: the status, the body and the connection's TLS
// state (status 0 when the request failed).
func httpsDo(c *http.Client, host, path string, header http.Header) (int, []byte, *tls.ConnectionState) {
	req, err := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		return 0, nil, nil
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.TLS
}

func echoName(body []byte) string {
	var echo testbackend.Echo
	_ = json.Unmarshal(body, &echo)
	return echo.Name
}

// pollHTTPS polls until https://host+path is answered by the backend named name over a
// certificate that verifies, and returns the answer and the certificate's serial number.
func pollHTTPS(t *testing.T, c *http.Client, host, path, name string) (testbackend.Echo, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, state := httpsDo(c, host, path, nil)
		var echo testbackend.Echo
		_ = json.Unmarshal(body, &echo)
		if code == http.StatusOK && echo.Name == name && state != nil {
			return echo, state.PeerCertificates[0].SerialNumber.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://%s%s: %d from %q; want 200 from %s over a verified certificate", host, path, code, echo.Name, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRedirect asks for http://host/x?y=1 and wants a permanent redirect to want.
func checkRedirect(t *testing.T, c *client, host, want string) {
	t.Helper()
	res := c.do(t, host, "/x?y=1")
	if (res.StatusCode != http.StatusMovedPermanently && res.StatusCode != http.StatusPermanentRedirect) || res.Header.Get("Location") != want {
		t.Errorf("http://%s/x?y=1: %d to %q; want a permanent redirect to %s", host, res.StatusCode, res.Header.Get("Location"), want)
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// editEnv copies an example's .env with some variables set, as a user edits it, and returns
// the copy's path. Each variable must already be in the example's file.
func editEnv(t *testing.T, path string, set map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for k, v := range set {
		found := false
		for i, l := range lines {
			if strings.HasPrefix(l, k+"=") {
				lines[i], found = k+"="+v, true
			}
		}
		if !found {
			t.Fatalf("%s has no line %s=...; the README says to edit it", path, k)
		}
	}
	out := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// exampleCopy copies a file or a directory's files from an example into a new directory
// that wharf's unprivileged user can read, replacing each key of replace (which must occur)
// by its value. It returns the new directory.
func exampleCopy(t *testing.T, dir, name string, replace map[string]string) string {
	t.Helper()
	out := t.TempDir()
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, name)
	files := []string{src}
	if fi, err := os.Stat(src); err == nil && fi.IsDir() {
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		files = files[:0]
		for _, e := range entries {
			files = append(files, filepath.Join(src, e.Name()))
		}
	}
	all := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		content := string(b)
		for old, repl := range replace {
			content = strings.ReplaceAll(content, old, repl)
		}
		all += string(b)
		writeReadable(t, filepath.Join(out, filepath.Base(f)), content)
	}
	for old := range replace {
		if !strings.Contains(all, old) {
			t.Fatalf("%s does not contain %q any more: update the test with the example", src, old)
		}
	}
	return out
}

// writeReadable replaces a file atomically, readable by everyone (wharf in its container
// runs as 65532).
func writeReadable(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// selfSignedDir writes a self-signed certificate for names as home.arpa.crt and
// home.arpa.key (the file-provider example's names) into a new directory, and returns it
// with a pool that trusts the certificate.
func selfSignedDir(t *testing.T, names ...string) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeReadable(t, filepath.Join(dir, "home.arpa.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeReadable(t, filepath.Join(dir, "home.arpa.key"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return dir, pool
}

// startBackend serves a test backend on 127.0.0.1 until the test ends; tlsToo serves HTTPS
// with httptest's self-signed certificate.
func startBackend(t *testing.T, name string, tlsToo bool) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	if tlsToo {
		srv = httptest.NewTLSServer(testbackend.New(name))
	} else {
		srv = httptest.NewServer(testbackend.New(name))
	}
	t.Cleanup(srv.Close)
	return srv
}
