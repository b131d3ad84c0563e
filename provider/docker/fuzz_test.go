package docker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// fuzzRules are default rule templates of the kinds users write, each putting container
// data (which anyone able to start a container chooses) inside a quoted rule argument.
var fuzzRules = []string{
	"",
	"Host(`{{ .ContainerName }}.example.com`)",
	"Host(`{{ index .Labels \"app.host\" }}`) && PathPrefix(`/{{ normalize .Name }}`)",
	"Host(\"{{ .Name }}.example.org\") || Host(`{{ index .Labels \"com.docker.compose.service\" }}.example.net`)",
}

// FuzzLabels feeds arbitrary labels and container names to Convert, the labels-to-config
// decoder. Labels are untrusted input. It checks that Convert never panics, that every
// problem names where it comes from, that the result does not depend on the order of the
// label map, and that no container data can add to or close the quoting of a default rule
// (rule injection). The seed corpus is every container of the golden inputs in testdata,
// under each template.
func FuzzLabels(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		var tc convertCase
		if err := json.Unmarshal(b, &tc); err != nil {
			f.Fatalf("%s: %v", in, err)
		}
		for _, c := range tc.Containers {
			for i := range fuzzRules {
				f.Add(encodeLabels(c.Labels), c.Name, uint8(i))
			}
		}
	}
	if len(inputs) == 0 {
		f.Fatal("no seed inputs in testdata")
	}
	f.Add("wharf.enable=true\napp.host=a`) || Host(`evil.test\nwharf.http.routers.x.service=x", "n`) || PathPrefix(`/", uint8(2))
	f.Fuzz(func(t *testing.T, labels, name string, rule uint8) {
		opts := ConvertOptions{DefaultRule: fuzzRules[int(rule)%len(fuzzRules)], ExposedByDefault: rule&0x80 != 0}
		c := Container{ID: strings.Repeat("ab", 32), Name: name, Labels: decodeLabels(labels), State: "running",
			Networks: map[string]Network{"front": {IP: "172.20.0.2"}}, ExposedPorts: []string{"80/tcp"}}
		cfg, errs := Convert([]Container{c}, opts)
		if cfg == nil || cfg.HTTP == nil {
			t.Fatal("no configuration returned")
		}
		for _, e := range errs {
			if e.Source.IsZero() || e.Msg == "" {
				t.Fatalf("a problem without its source: %#v", e)
			}
		}
		// The same labels in another map (another iteration order) give the same result.
		c2 := c
		c2.Labels = decodeLabels(labels)
		if a, b := renderGolden(cfg, errs), renderGolden(Convert([]Container{c2}, opts)); !bytes.Equal(a, b) {
			t.Fatalf("two runs differ:\n%s\n%s", a, b)
		}
		checkNoRuleInjection(t, c, opts.DefaultRule, cfg)
	})
}

// checkNoRuleInjection: a router that got its rule from the template has exactly the
// template's quotes: container data never adds a backtick or a double quote.
func checkNoRuleInjection(t *testing.T, c Container, template string, cfg *dynamic.Configuration) {
	t.Helper()
	if template == "" {
		template = DefaultRule
	}
	for k := range c.Labels {
		if strings.HasSuffix(strings.ToLower(k), ".rule") {
			return // a rule written in a label is the container's own rule, not a template's
		}
	}
	literal := templateAction.ReplaceAllString(template, "")
	for name, r := range cfg.HTTP.Routers {
		for _, q := range []string{"`", `"`} {
			if strings.Count(r.Rule, q) != strings.Count(literal, q) {
				t.Fatalf("router %q: rule %q has %d %s quotes; its template %q has %d",
					name, r.Rule, strings.Count(r.Rule, q), q, template, strings.Count(literal, q))
			}
		}
	}
}

// templateAction matches the {{ ... }} actions of a rule template, whose quotes are Go's.
var templateAction = regexp.MustCompile(`\{\{.*?\}\}`)

// encodeLabels writes labels one "key=value" per line, sorted.
func encodeLabels(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, k+"="+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func decodeLabels(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestCraftedNamesCannotInjectRules: names and labels written to break out of a default
// rule's quotes become part of a host name instead; no extra matcher appears.
func TestCraftedNamesCannotInjectRules(t *testing.T) {
	for _, tc := range []struct{ name, service string }{
		{"x`) || PathPrefix(`/", "web"},
		{"web", "x`) || Host(`evil.test"},
		{`a") || Host("evil.test`, `b\`},
	} {
		c := Container{ID: strings.Repeat("cd", 32), Name: tc.name, State: "running",
			Labels:       map[string]string{"wharf.enable": "true", "com.docker.compose.service": tc.service, "app.host": tc.service},
			Networks:     map[string]Network{"front": {IP: "172.20.0.3"}},
			ExposedPorts: []string{"80/tcp"}}
		for _, tpl := range fuzzRules {
			cfg, _ := Convert([]Container{c}, ConvertOptions{DefaultRule: tpl})
			checkNoRuleInjection(t, c, tpl, cfg)
			for _, r := range cfg.HTTP.Routers {
				if strings.Contains(r.Rule, "PathPrefix(`/`)") || strings.Contains(r.Rule, "Host(`evil.test`)") || strings.Contains(r.Rule, `Host("evil.test")`) {
					t.Errorf("name %q, service %q, template %q: injected rule %q", tc.name, tc.service, tpl, r.Rule)
				}
			}
		}
	}
}

// TestLabelsAtTheCapsConvertQuickly: the label caps (DefaultMaxLabels labels of up to
// DefaultMaxValueBytes each) must also bound the work. A container at the caps whose
// routers each list tens of thousands of middlewares, and have no rule of their own, kept
// Convert busy for about ten minutes: the default rule's copy of every label was rebuilt for
// every router. The bound is generous; it only proves that Convert ends.
func TestLabelsAtTheCapsConvertQuickly(t *testing.T) {
	labels := map[string]string{"wharf.enable": "true"}
	refs := strings.Repeat("m,", (DefaultMaxValueBytes-2)/2)
	for i := 0; len(labels) < DefaultMaxLabels; i++ {
		labels[fmt.Sprintf("wharf.http.routers.r%d.middlewares", i)] = refs
	}
	c := Container{ID: strings.Repeat("ef", 32), Name: "heavy", Labels: labels, State: "running",
		Networks: map[string]Network{"front": {IP: "172.20.0.4"}}, ExposedPorts: []string{"80/tcp"}}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		Convert([]Container{c}, ConvertOptions{})
	}()
	select {
	case <-done:
		t.Logf("converted in %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatalf("Convert of one container at the label caps still running after 10s")
	}
}
