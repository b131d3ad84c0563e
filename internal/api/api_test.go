package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/provider/file"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

const dynamicYAML = `http:
  routers:
    app:
      rule: "Host(` + "`app.test`" + `)"
      service: app
      middlewares: [strip]
      tls:
        certResolver: le
    typo:
      rule: "Host(` + "`typo.test`" + `)"
      service: ap
  services:
    app:
      loadBalancer:
        servers:
          - url: http://user:s3cr3t-password@127.0.0.1:9
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/s3cr3t-prefix]
`

// labelError is what the Docker provider reports for a mistyped label.
var labelError = &dynamic.Error{
	Source: dynamic.Source{Provider: "docker", Container: "blog-web-1", ContainerID: "3f2a1b9c0d1e5f6a7b8c",
		Label: "wharf.http.routers.blog.rulee"},
	Path: "http.routers.blog.rulee",
	Msg:  `unknown key "rulee" (did you mean "rule"?)`,
}

// fakeState serves a table compiled from a real file provider's snapshot.
type fakeState struct {
	tab   atomic.Pointer[router.Table]
	certs []Certificate
	down  map[string]bool
}

func (f *fakeState) Table() *router.Table { return f.tab.Load() }
func (f *fakeState) EntryPoints() []EntryPoint {
	return []EntryPoint{{Name: "web", Address: "127.0.0.1:80"}}
}
func (f *fakeState) Certificates() []Certificate { return f.certs }
func (f *fakeState) ServerHealth(s router.ServiceInfo) []ServerStatus {
	if f.down == nil {
		return nil
	}
	var out []ServerStatus
	for _, u := range s.Servers {
		st := ServerStatus{URL: u, Status: "up"}
		if f.down[u] {
			st.Status, st.Reason = "down", "health check: connection refused"
		}
		out = append(out, st)
	}
	return out
}

func compile(t *testing.T, yaml string, prior ...*dynamic.Error) *router.Table {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := file.New(file.Config{Filename: path}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	snap := provider.Merge([]provider.Message{p.Load()})
	tab, _ := router.Compile(snap.Config, append(snap.Errors, prior...), router.Options{EntryPoints: []router.EntryPoint{{Name: "web"}}, Log: zerolog.Nop()})
	t.Cleanup(tab.Close)
	return tab
}

func newState(t *testing.T) *fakeState {
	st := &fakeState{}
	st.tab.Store(compile(t, dynamicYAML, labelError))
	return st
}

func get(t *testing.T, h http.Handler, path string, out any) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, rec.Body)
		}
	}
	return rec
}

func TestErrorsNameContainerLabelAndFix(t *testing.T) {
	h := Handler(newState(t), Version{})
	var errs []ConfigError
	get(t, h, "/api/errors", &errs)
	var label *ConfigError
	for i, e := range errs {
		if e.Label != "" {
			label = &errs[i]
		}
	}
	if label == nil {
		t.Fatalf("the label error is missing: %+v", errs)
	}
	if label.Container != "blog-web-1" || label.ContainerID != "3f2a1b9c0d1e" || label.Label != "wharf.http.routers.blog.rulee" ||
		label.Suggestion != "rule" || label.Concerns != "router blog@docker" || label.Provider != "docker" {
		t.Errorf("label error = %+v", *label)
	}
	for _, e := range errs {
		if e.Message == "" || e.Severity == "" {
			t.Errorf("incomplete error %+v", e)
		}
	}
}

func TestMissingRouterExplainsItself(t *testing.T) {
	h := Handler(newState(t), Version{})
	var r Router
	rec := get(t, h, "/api/http/routers/blog@docker", &r)
	if rec.Code != http.StatusOK || r.Status != "disabled" || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "rulee") {
		t.Errorf("GET the router a label broke: %d %+v", rec.Code, r)
	}
	get(t, h, "/api/http/routers/typo@file", &r)
	if r.Status != "disabled" || len(r.Errors) == 0 || !strings.Contains(strings.Join(r.Errors, " "), `did you mean "app@file"`) {
		t.Errorf("router with a dangling service = %+v", r)
	}
	if rec := get(t, h, "/api/http/routers/nope@file", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown router: %d; want 404", rec.Code)
	}
}

func TestNoSecretInAnyAnswer(t *testing.T) {
	st := newState(t)
	s, err := New(st, Options{Dashboard: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/rawdata", "/api/http/routers", "/api/http/services", "/api/http/middlewares",
		"/api/http/middlewares/strip@file", "/api/overview", "/api/errors"} {
		body := get(t, s, p, nil).Body.String()
		if strings.Contains(body, "s3cr3t") {
			t.Errorf("GET %s shows a secret: %s", p, body)
		}
	}
}

func TestServicesShowServerHealth(t *testing.T) {
	st := newState(t)
	st.down = map[string]bool{"http://user:xxxxx@127.0.0.1:9": true}
	var svc Service
	get(t, Handler(st, Version{}), "/api/http/services/app@file", &svc)
	if len(svc.Servers) != 1 || svc.Servers[0].Status != "down" || svc.Servers[0].Reason == "" {
		t.Errorf("servers = %+v; want one, down, with the reason", svc.Servers)
	}
	if len(svc.UsedBy) != 1 || svc.UsedBy[0] != "app@file" {
		t.Errorf("usedBy = %v", svc.UsedBy)
	}
}

func TestOverviewAndRouterDetails(t *testing.T) {
	h := Handler(newState(t), Version{Version: "1.2.3"})
	var o Overview
	get(t, h, "/api/overview", &o)
	if o.Routers.Total != 3 || o.Routers.Disabled != 2 || o.Errors < 2 {
		t.Errorf("overview = %+v; want 3 routers (2 disabled), 2+ errors", o)
	}
	var r Router
	get(t, h, "/api/http/routers/app@file", &r)
	if r.Status != "enabled" || r.TLS == nil || r.TLS.CertResolver != "le" || len(r.Middlewares) != 1 || r.Source == "" {
		t.Errorf("router = %+v", r)
	}
	var v Version
	get(t, h, "/api/version", &v)
	if v.Version != "1.2.3" {
		t.Errorf("version = %+v", v)
	}
}

func TestCertificatesSoonestFirstWithDaysLeft(t *testing.T) {
	st := newState(t)
	now := time.Now()
	st.certs = []Certificate{
		{Names: []string{"late.test"}, NotAfter: now.Add(80*24*time.Hour + time.Hour)},
		{Names: []string{"soon.test"}, NotAfter: now.Add(3*24*time.Hour + time.Hour)},
		{Names: []string{"pending.test"}, Managed: true, Resolver: "le", LastError: "rate limited"},
	}
	var got []Certificate
	get(t, Handler(st, Version{}), "/api/certificates", &got)
	if len(got) != 3 || got[0].Names[0] != "pending.test" || got[1].Names[0] != "soon.test" || *got[1].DaysLeft != 3 ||
		*got[2].DaysLeft != 80 || got[0].DaysLeft != nil {
		t.Errorf("certificates = %+v", got)
	}
}

func TestBasicAuth(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	s, err := New(newState(t), Options{Users: []string{"bob:" + string(bc), "ann:$apr1$abcdefgh$ckT15POyCRlen.h6XtGAZ1",
		"sam:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0="}, Dashboard: true})
	if err != nil {
		t.Fatal(err)
	}
	try := func(path, user, pass string) int {
		r := httptest.NewRequest("GET", path, nil)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec.Code
	}
	for _, tc := range []struct {
		path, user, pass string
		want             int
	}{
		{"/api/overview", "", "", 401}, {"/dashboard/", "", "", 401}, {"/ping", "", "", 200},
		{"/api/overview", "bob", "hunter2", 200}, {"/api/overview", "ann", "hunter2", 200}, {"/api/overview", "sam", "hunter2", 200},
		{"/api/overview", "bob", "wrong", 401}, {"/api/overview", "eve", "hunter2", 401},
	} {
		if got := try(tc.path, tc.user, tc.pass); got != tc.want {
			t.Errorf("GET %s as %q/%q: %d; want %d", tc.path, tc.user, tc.pass, got, tc.want)
		}
	}
	if _, err := New(newState(t), Options{Users: []string{"bob:plaintext"}}); err == nil {
		t.Error("a plain-text password was accepted")
	}
}

func TestDashboardIsEmbeddedWithAStrictPolicy(t *testing.T) {
	s, err := New(newState(t), Options{Dashboard: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(t, s, "/dashboard/", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "app.js") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("GET /dashboard/: %d %v", rec.Code, rec.Header())
	}
	for _, f := range []string{"/dashboard/app.js", "/dashboard/app.css"} {
		if rec := get(t, s, f, nil); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d", f, rec.Code)
		}
	}
	if rec := get(t, s, "/", nil); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/dashboard/" {
		t.Errorf("GET /: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	off, _ := New(newState(t), Options{})
	if rec := get(t, off, "/dashboard/", nil); rec.Code != http.StatusNotFound {
		t.Errorf("dashboard off: GET /dashboard/ = %d; want 404", rec.Code)
	}
}

func TestMetricsAndDebugOnlyWhenAsked(t *testing.T) {
	m := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "wharf_up 1\n") })
	on, _ := New(newState(t), Options{Metrics: m, Debug: true})
	off, _ := New(newState(t), Options{})
	if rec := get(t, on, "/metrics", nil); rec.Body.String() != "wharf_up 1\n" {
		t.Errorf("/metrics = %q", rec.Body)
	}
	if rec := get(t, on, "/debug/vars", nil); rec.Code != 200 {
		t.Errorf("/debug/vars = %d", rec.Code)
	}
	for _, p := range []string{"/metrics", "/debug/vars", "/debug/pprof/"} {
		if rec := get(t, off, p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s when off = %d; want 404", p, rec.Code)
		}
	}
}

// TestEventsStreamEachChange follows /api/events over a real connection: the first event is
// the state, a new table sends another at once, and Close ends the stream.
func TestEventsStreamEachChange(t *testing.T) {
	st := newState(t)
	s, _ := New(st, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	br := bufio.NewReader(res.Body)
	first := nextEvent(t, br)
	if len(first.Routers) != 3 {
		t.Fatalf("first event has %d routers; want 3", len(first.Routers))
	}
	st.tab.Store(compile(t, dynamicYAML))
	s.Notify()
	if second := nextEvent(t, br); len(second.Routers) != 2 {
		t.Fatalf("after the change: %d routers; want 2 (the label error is gone)", len(second.Routers))
	}
	s.Close()
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("stream did not end cleanly after Close: %v", err)
	}
}

func nextEvent(t *testing.T, br *bufio.Reader) StateDoc {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var doc StateDoc
			if err := json.Unmarshal([]byte(data), &doc); err != nil {
				t.Fatal(err)
			}
			return doc
		}
	}
}

func TestStaticCertificatesFromPEM(t *testing.T) {
	certPEM, _ := selfSigned(t, "static.test", time.Now().Add(30*24*time.Hour))
	path := filepath.Join(t.TempDir(), "c.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	got := StaticCertificates([]dynamic.Certificate{{CertFile: path}, {CertFile: string(certPEM)}, {CertFile: "/nonexistent.pem"}})
	if len(got) != 3 || got[0].Names[0] != "static.test" || got[1].Names[0] != "static.test" || got[0].NotAfter.IsZero() {
		t.Fatalf("certificates = %+v", got)
	}
	if got[2].LastError == "" {
		t.Error("an unreadable certificate is listed without its reason")
	}
}
