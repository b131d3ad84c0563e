package middleware_test

// End-to-end tests: configuration goes through the same path as in production (container
// labels -> provider/docker.Convert -> provider.Merge -> router.Compile), and requests go
// through a real frontend server, the compiled table, the real forwarder and real backends.

import (
	"bufio"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/provider/docker"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// stack is a running wharf in miniature: a plain and a TLS frontend over one table.
type stack struct {
	web, websecure *httptest.Server
	errs           dynamic.Errors
}

// container describes a running container whose service listens at backend.
func container(name string, backend *httptest.Server, labels ...string) docker.Container {
	c := docker.Container{ID: name + "0123456789abcdef", Name: name, State: "running",
		Networks: map[string]docker.Network{"proxy": {IP: "127.0.0.1"}}, Labels: map[string]string{}}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		c.Labels[k] = v
	}
	if backend != nil {
		u, _ := url.Parse(backend.URL)
		c.Labels["traefik.http.services."+name+".loadbalancer.server.port"] = u.Port()
	}
	return c
}

// start compiles the containers' labels (read with Traefik's prefix, as a migrated compose
// file is) and serves the table.
func start(t *testing.T, containers ...docker.Container) *stack {
	t.Helper()
	cfg, errs := docker.Convert(containers, docker.ConvertOptions{LabelPrefix: "traefik", Network: "proxy"})
	snap := provider.Merge([]provider.Message{{Provider: "docker", Config: cfg, Errors: errs}})
	return serveConfig(t, snap.Config, snap.Errors)
}

func serveConfig(t *testing.T, cfg *dynamic.Configuration, prior dynamic.Errors) *stack {
	t.Helper()
	tab, errs := router.Compile(cfg, prior, router.Options{
		EntryPoints: []router.EntryPoint{{Name: "web"}, {Name: "websecure"}}, Log: zerolog.Nop()})
	sw := router.NewSwitcher(2)
	sw.Swap(tab)
	s := &stack{web: httptest.NewServer(sw.Handler(0)), websecure: httptest.NewTLSServer(sw.Handler(1)), errs: append(prior, errs...)}
	t.Cleanup(func() { s.web.Close(); s.websecure.Close(); tab.Close() })
	return s
}

// do sends a request for host through the TLS frontend (or the plain one) without
// following redirects or decompressing.
func (s *stack) do(t *testing.T, secure bool, method, host, path string, hdr ...string) *http.Response {
	t.Helper()
	srv := s.web
	if secure {
		srv = s.websecure
	}
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{DisableCompression: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test server
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// echoBackend answers with what it received.
func echoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "path=%s prefix=%s user=%s auth=%q\n", r.URL.RequestURI(), r.Header.Get("X-Forwarded-Prefix"),
			r.Header.Get("Remote-User"), r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, strings.Repeat("padding to make the body worth compressing\n", 60))
	}))
	t.Cleanup(s.Close)
	return s
}

// n8n's documented compose labels, as the Docker engine reports them.
func TestN8nLabelSet(t *testing.T) {
	app := echoBackend(t)
	s := start(t, container("n8n", app,
		"traefik.enable=true",
		"traefik.http.routers.n8n.rule=Host(`n8n.example.com`)",
		"traefik.http.routers.n8n.tls=true",
		"traefik.http.routers.n8n.entrypoints=web,websecure",
		"traefik.http.routers.n8n.tls.certresolver=mytlschallenge",
		"traefik.http.middlewares.n8n.headers.SSLRedirect=true",
		"traefik.http.middlewares.n8n.headers.STSSeconds=315360000",
		"traefik.http.middlewares.n8n.headers.browserXSSFilter=true",
		"traefik.http.middlewares.n8n.headers.contentTypeNosniff=true",
		"traefik.http.middlewares.n8n.headers.forceSTSHeader=true",
		"traefik.http.middlewares.n8n.headers.SSLHost=example.com",
		"traefik.http.middlewares.n8n.headers.STSIncludeSubdomains=true",
		"traefik.http.middlewares.n8n.headers.STSPreload=true",
		"traefik.http.routers.n8n.middlewares=n8n@docker",
	))
	for _, e := range s.errs {
		if !e.Warning {
			t.Fatalf("configuration error: %v", e)
		}
	}
	res := s.do(t, true, "GET", "n8n.example.com", "/")
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Strict-Transport-Security": "max-age=315360000; includeSubDomains; preload",
		"X-Xss-Protection":          "1; mode=block",
		"X-Content-Type-Options":    "nosniff",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
}

// Authelia's documented setup: the forwardAuth middleware is declared on Authelia's own
// container and named by the routers of other containers.
func TestAutheliaForwardAuthAcrossContainers(t *testing.T) {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := r.Cookie("authelia_session"); c != nil && c.Value == "good" {
			w.Header().Set("Remote-User", "john")
			w.Header().Set("Remote-Groups", "admins,dev")
			w.Header().Set("Remote-Email", "john@example.com")
			return
		}
		rd := r.Header.Get("X-Forwarded-Proto") + "://" + r.Header.Get("X-Forwarded-Host") + r.Header.Get("X-Forwarded-Uri")
		http.Redirect(w, r, "https://auth.example.com/?rd="+url.QueryEscape(rd), http.StatusFound)
	}))
	t.Cleanup(authz.Close)
	whoami := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s groups=%s", r.Header.Get("Remote-User"), r.Header.Get("Remote-Groups"))
	}))
	t.Cleanup(whoami.Close)
	authAddr := authz.Listener.Addr().String()
	s := start(t,
		container("authelia", authz,
			"traefik.enable=true",
			"traefik.http.routers.authelia.rule=Host(`auth.example.com`)",
			"traefik.http.routers.authelia.entrypoints=websecure",
			"traefik.http.routers.authelia.tls=true",
			"traefik.http.middlewares.authelia.forwardAuth.address=http://"+authAddr+"/api/authz/forward-auth",
			"traefik.http.middlewares.authelia.forwardAuth.trustForwardHeader=true",
			"traefik.http.middlewares.authelia.forwardAuth.authResponseHeaders=Remote-User,Remote-Groups,Remote-Email,Remote-Name",
		),
		container("whoami", whoami,
			"traefik.enable=true",
			"traefik.http.routers.whoami.rule=Host(`whoami.example.com`)",
			"traefik.http.routers.whoami.entrypoints=websecure",
			"traefik.http.routers.whoami.tls=true",
			"traefik.http.routers.whoami.middlewares=authelia@docker",
		),
	)
	if len(s.errs) > 0 {
		t.Fatalf("configuration errors: %v", s.errs)
	}
	t.Run("unauthenticated_goes_to_the_portal", func(t *testing.T) {
		res := s.do(t, true, "GET", "whoami.example.com", "/secret?x=1")
		want := "https://auth.example.com/?rd=" + url.QueryEscape("https://whoami.example.com/secret?x=1")
		if res.StatusCode != 302 || res.Header.Get("Location") != want {
			t.Errorf("got %d %q; want 302 %q", res.StatusCode, res.Header.Get("Location"), want)
		}
	})
	t.Run("authenticated_identity_reaches_the_app", func(t *testing.T) {
		res := s.do(t, true, "GET", "whoami.example.com", "/", "Cookie", "authelia_session=good",
			"Remote-User", "admin", "Connection", "Remote-User, Remote-Groups")
		if got := readAll(t, res); got != "user=john groups=admins,dev" {
			t.Errorf("got %q", got)
		}
	})
}

// Coolify style: stripPrefix + compress + basicAuth with a bcrypt hash that the compose file
// wrote with $$ (Compose hands the engine single $).
func TestCoolifyStripCompressBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	composeValue := "admin:" + strings.ReplaceAll(string(hash), "$", "$$")
	engineValue := strings.ReplaceAll(composeValue, "$$", "$") // what Compose does
	app := echoBackend(t)
	s := start(t, container("app", app,
		"traefik.enable=true",
		"traefik.http.middlewares.gzip.compress=true",
		"traefik.http.middlewares.app-strip.stripprefix.prefixes=/app",
		"traefik.http.middlewares.app-auth.basicauth.users="+engineValue,
		"traefik.http.routers.https-0-app.rule=Host(`example.com`) && PathPrefix(`/app`)",
		"traefik.http.routers.https-0-app.entrypoints=websecure",
		"traefik.http.routers.https-0-app.tls=true",
		"traefik.http.routers.https-0-app.middlewares=app-auth,app-strip,gzip",
		"traefik.http.routers.https-0-app.service=app",
	))
	if len(s.errs) > 0 {
		t.Fatalf("configuration errors: %v", s.errs)
	}
	if res := s.do(t, true, "GET", "example.com", "/app/dash"); res.StatusCode != 401 || res.Header.Get("Www-Authenticate") == "" {
		t.Fatalf("without credentials: got %d", res.StatusCode)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	res := s.do(t, true, "GET", "example.com", "/app/dash?q=1", "Authorization", basic, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %d encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(zr).ReadString('\n')
	if line != "path=/dash?q=1 prefix=/app user= auth=\"\"\n" {
		t.Errorf("backend saw %q", line)
	}
}

// A middleware with a bad option disables the routers that use it, and only those.
func TestBadMiddlewareFailsClosed(t *testing.T) {
	app := echoBackend(t)
	s := start(t,
		container("locked", app,
			"traefik.enable=true",
			"traefik.http.routers.locked.rule=Host(`locked.test`)",
			"traefik.http.routers.locked.middlewares=auth",
			"traefik.http.middlewares.auth.basicauth.users=admin:plaintext",
		),
		container("open", app,
			"traefik.enable=true",
			"traefik.http.routers.open.rule=Host(`open.test`)",
		),
	)
	all := s.errs.Error()
	for _, want := range []string{
		`container "locked"`, `label "traefik.http.middlewares.auth.basicauth.users"`, `user "admin"`, "not in a format wharf accepts",
		`router "locked@docker": middleware "auth@docker"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors do not contain %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "plaintext") {
		t.Error("the password appears in the errors")
	}
	if res := s.do(t, false, "GET", "locked.test", "/"); res.StatusCode != 404 {
		t.Errorf("router without its auth: got %d; want 404 (not served)", res.StatusCode)
	}
	if res := s.do(t, false, "GET", "open.test", "/"); res.StatusCode != 200 {
		t.Errorf("other router: got %d; want 200", res.StatusCode)
	}
}

// deadAddr returns an address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
