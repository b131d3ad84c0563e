package docker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestConstraints(t *testing.T) {
	labels := map[string]string{"team": "blog", "env": "prod-eu", "Tier": "front"}
	cases := []struct {
		expr string
		want bool
	}{
		{"Label(`team`, `blog`)", true},
		{"Label(`team`,`shop`)", false},
		{"Label(`tier`, `front`)", true}, // keys are case-insensitive
		{"Label(`team`, `Blog`)", false}, // values are not
		{"!Label(`team`, `shop`)", true},
		{"LabelRegex(`env`, `^prod`)", true},
		{"LabelRegexp(`env`, `eu$`)", true},
		{"LabelRegex(`env`, `^dev`)", false},
		{"LabelRegex(`env`, `rod`)", true}, // unanchored, as in Traefik
		{"Label(`team`, `blog`) && Label(`env`, `dev`)", false},
		{"Label(`team`, `blog`) || Label(`env`, `dev`)", true},
		{"Label(`x`, `y`) || Label(`team`, `blog`) && Label(`env`, `prod-eu`)", true},
		{"(Label(`x`, `y`) || Label(`team`, `blog`)) && !Label(`env`, `prod-eu`)", false},
		{"!!Label(`team`, \"blog\")", true},
		{"Label(\"te\\u0061m\", `blog`)", true},
		{"Label(`missing`, ``)", false},
	}
	for _, tc := range cases {
		c, err := parseConstraints(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := c.match(labels); got != tc.want {
			t.Errorf("%s = %v; want %v", tc.expr, got, tc.want)
		}
	}
}

func TestConstraintErrors(t *testing.T) {
	cases := map[string]string{
		"Label(`a`":                      "offset 9: Label takes two arguments",
		"Label(`a`, `b`) &&":             "offset 18: expected Label(...) or LabelRegex(...), found the end",
		"Lable(`a`, `b`)":                `offset 0: unknown matcher "Lable"`,
		"Label(`a`, `b`) Label(`c`,`d`)": `offset 16: unexpected "Label(`,
		"LabelRegex(`a`, `(`)":           "offset 0: LabelRegex: error parsing regexp",
		"(Label(`a`, `b`)":               `offset 16: expected ")"`,
		"Label(a, b)":                    "offset 6: expected a string",
		"Label(`a, `b`)":                 "offset 11: Label takes two arguments",
		"Label(\"a, `b`)":                "offset 6: unterminated string",
	}
	for expr, want := range cases {
		_, err := parseConstraints(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConstraints(%q) = %v; want an error containing %q", expr, err, want)
		}
	}
	if c, err := parseConstraints("  "); c != nil || err != nil {
		t.Errorf("blank constraints = %v, %v; want none", c, err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"web_blog": "web-blog", "web.blog": "web-blog", "/blog--web_1": "blog-web-1",
		"Ünïcode_ok": "Ünïcode-ok", "a`b": "a-b", "___": "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestRuleSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain.example.com": "plain.example.com",
		"a`) || Host(`b":    "a-) || Host(-b",
		`a") || Host("b`:    "a-) || Host(-b",
		`a\`:                "a-",
		"a\nb\x00":          "a-b-",
	} {
		if got := ruleSafe(in); got != want {
			t.Errorf("ruleSafe(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestDetectSelf(t *testing.T) {
	const id = "3f2a1b9c0d1e99aa3f2a1b9c0d1e99aa3f2a1b9c0d1e99aa3f2a1b9c0d1e99aa"
	const other = "aaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccdddd"
	files := map[string]string{
		"/proc/self/mountinfo": "" +
			// On a host, the engine's shm mounts name containers but are not ours.
			"100 50 0:45 / /var/lib/docker/containers/" + other + "/mounts/shm rw - tmpfs shm rw\n" +
			"612 600 8:1 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n",
		"/proc/self/cgroup": "12:memory:/docker/" + id + "\n0::/\n",
	}
	read := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	got := detectSelf(read, "3f2a1b9c0d1e")
	if len(got) != 2 || got[0] != id || got[1] != "3f2a1b9c0d1e" {
		t.Fatalf("detectSelf = %v; want the id once and the hostname", got)
	}
	if !matchesSelf(id, []string{"3f2a1b9c0d1e"}) || matchesSelf(other, got) {
		t.Fatal("matchesSelf")
	}
	none := detectSelf(func(string) ([]byte, error) { return nil, errors.New("no") }, "my-laptop")
	if len(none) != 0 {
		t.Fatalf("outside a container: %v", none)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]Config{
		"default rule template":         {DefaultRule: "Host(`{{ .Name `)"},
		"constraints":                   {Constraints: "Label(`a`)"},
		`scheme "ssh" is not supported`: {Endpoint: "ssh://me@host"},
		"docker TLS":                    {Endpoint: "tcp://127.0.0.1:2376", TLS: &TLSConfig{CA: filepath.Join(dir, "missing.pem")}},
	}
	for want, cfg := range cases {
		if _, err := New(cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%+v) = %v; want an error containing %q", cfg, err, want)
		}
	}
	p, err := New(Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "docker" || p.cfg.LabelPrefix != "wharf" || p.cfg.Debounce != DefaultDebounce || p.cfg.ResyncInterval != DefaultResyncInterval {
		t.Fatalf("defaults: %+v", p.cfg)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
	t.Setenv("DOCKER_CERT_PATH", "/certs")
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	if got := endpoint(Config{}); got != "tcp://10.0.0.1:2376" {
		t.Errorf("endpoint = %q", got)
	}
	if got := endpoint(Config{Endpoint: "unix:///run/docker.sock"}); got != "unix:///run/docker.sock" {
		t.Errorf("configured endpoint = %q", got)
	}
	tc := tlsFromEnv()
	if tc == nil || tc.CA != "/certs/ca.pem" || tc.Key != "/certs/key.pem" || tc.InsecureSkipVerify {
		t.Errorf("tlsFromEnv = %+v", tc)
	}
	t.Setenv("DOCKER_HOST", "")
	if got := endpoint(Config{}); got != "unix:///var/run/docker.sock" {
		t.Errorf("default endpoint = %q", got)
	}
}

func TestRelevantEvents(t *testing.T) {
	for ev, want := range map[Event]bool{
		{Type: "container", Action: "start"}:                  true,
		{Type: "container", Action: "health_status: healthy"}: true,
		{Type: "container", Action: "rename"}:                 true,
		{Type: "network", Action: "connect"}:                  true,
		{Type: "network", Action: "create"}:                   false,
		{Type: "container", Action: "exec_start: sh -c x"}:    false,
		{Type: "container", Action: "attach"}:                 false,
		{Type: "image", Action: "pull"}:                       false,
		{Type: "container", Action: "connect"}:                false,
	} {
		if got := relevant(ev); got != want {
			t.Errorf("relevant(%+v) = %v; want %v", ev, got, want)
		}
	}
}

func TestWantedMatchesConvert(t *testing.T) {
	cv, err := newConverter(ConvertOptions{Constraints: "Label(`team`, `blog`)"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"team": "blog", "wharf.enable": "true"}, true},
		{map[string]string{"team": "blog", "wharf.enable": "maybe"}, true},                  // to report the error
		{map[string]string{"team": "blog", "wharf.http.routers.a.rule": "Host(`a`)"}, true}, // to warn
		{map[string]string{"team": "blog", "wharf.enable": "false"}, false},
		{map[string]string{"team": "blog"}, false},
		{map[string]string{"team": "shop", "wharf.enable": "true"}, false},
	} {
		if got := cv.wanted(&Container{Labels: tc.labels}); got != tc.want {
			t.Errorf("wanted(%v) = %v; want %v", tc.labels, got, tc.want)
		}
	}
}

func TestSocketPermissionErrorSaysWhatToDo(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	if err := os.WriteFile(sock, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	hint := socketHint("unix://"+sock, fmt.Errorf("dial unix %s: connect: %w", sock, os.ErrPermission))
	if !strings.Contains(hint, "belongs to group") || !strings.Contains(hint, "group_add") {
		t.Errorf("hint = %q", hint)
	}
	if h := socketHint("tcp://127.0.0.1:2375", os.ErrPermission); h != "" {
		t.Errorf("tcp endpoint got a socket hint: %q", h)
	}
}
