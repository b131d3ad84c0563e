package docker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/wharfproxy/wharf/router/dynamic"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// convertCase is one golden test input: testdata/<name>.in.json.
type convertCase struct {
	Options    ConvertOptions `json:"options"`
	Containers []Container    `json:"containers"`
}

// goldenOutput is what testdata/<name>.golden.json holds: the configuration without
// sources (they are in the errors' text), then every error and warning as the user reads it.
type goldenOutput struct {
	Config   any      `json:"config"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// TestConvertGolden runs every testdata/*.in.json through Convert and compares the result
// with the matching .golden.json. Run `go test ./provider/docker -run Golden -update` after
// an intended change and review the diff.
func TestConvertGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			tc := loadCase(t, in)
			cfg, errs := Convert(tc.Containers, tc.Options)
			got := renderGolden(cfg, errs)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output; got:\n%s", path, got)
			}
		})
	}
}

// loadCase reads a case and fills what every case would otherwise repeat: containers are
// running, ids derive from names, and a container with no network is on "bridge".
func loadCase(t *testing.T, path string) convertCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var tc convertCase
	if err := dec.Decode(&tc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i := range tc.Containers {
		c := &tc.Containers[i]
		if c.State == "" {
			c.State = "running"
		}
		if c.ID == "" {
			sum := sha256.Sum256([]byte(c.Name))
			c.ID = hex.EncodeToString(sum[:])
		}
		if c.Networks == nil && c.NetworkMode == "" {
			c.Networks = map[string]Network{"bridge": {IP: fmt.Sprintf("172.17.0.%d", i+2), Gateway: "172.17.0.1"}}
		}
	}
	return tc
}

func renderGolden(cfg *dynamic.Configuration, errs dynamic.Errors) []byte {
	out := goldenOutput{Config: plainValue(reflect.ValueOf(cfg))}
	for _, e := range errs {
		if e.Warning {
			out.Warnings = append(out.Warnings, e.Error())
		} else {
			out.Errors = append(out.Errors, e.Error())
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// plainValue renders a configuration value compactly for a golden file: zero values and
// sources are left out, a Node becomes the values written, field names are the config keys.
func plainValue(v reflect.Value) any {
	if v.Type() == reflect.TypeFor[*dynamic.Node]() {
		if v.IsNil() {
			return nil
		}
		return plainNode(v.Interface().(*dynamic.Node))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Elem().Kind() == reflect.Struct && v.Elem().IsZero() {
			return map[string]any{} // `tls=true`: present, with defaults
		}
		return plainValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Type == reflect.TypeFor[dynamic.Source]() || v.Field(i).IsZero() {
				continue
			}
			name := f.Tag.Get("wharf")
			if name == "" {
				name = string(unicode.ToLower(rune(f.Name[0]))) + f.Name[1:]
			}
			if pv := plainValue(v.Field(i)); pv != nil {
				m[name] = pv
			}
		}
		return m
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()] = plainValue(it.Value())
		}
		return m
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		l := make([]any, v.Len())
		for i := range v.Len() {
			l[i] = plainValue(v.Index(i))
		}
		return l
	}
	if v.IsZero() {
		return nil
	}
	return v.Interface()
}

func plainNode(n *dynamic.Node) any {
	switch n.Kind {
	case dynamic.List:
		l := make([]any, len(n.Items))
		for i, it := range n.Items {
			l[i] = plainNode(it)
		}
		return l
	case dynamic.Map:
		m := map[string]any{}
		for _, e := range n.Entries {
			m[e.Key] = plainNode(e.Value)
		}
		if n.Value != "" {
			m["="] = n.Value
		}
		return m
	}
	return n.Value
}

func TestConvertIsDeterministic(t *testing.T) {
	tc := loadCase(t, filepath.Join("testdata", "conflicts.in.json"))
	first := renderGolden(Convert(tc.Containers, tc.Options))
	for i := 0; i < 20; i++ {
		// Reverse the input: order must not matter.
		for l, r := 0, len(tc.Containers)-1; l < r; l, r = l+1, r-1 {
			tc.Containers[l], tc.Containers[r] = tc.Containers[r], tc.Containers[l]
		}
		if got := renderGolden(Convert(tc.Containers, tc.Options)); !bytes.Equal(got, first) {
			t.Fatalf("run %d differs:\n%s\nfirst:\n%s", i, got, first)
		}
	}
}

func TestConvertBadOptions(t *testing.T) {
	for _, opts := range []ConvertOptions{
		{DefaultRule: "Host(`{{ .Name `)"},
		{Constraints: "Label(`a`"},
	} {
		cfg, errs := Convert(nil, opts)
		if len(errs) != 1 || cfg == nil || cfg.HTTP == nil {
			t.Errorf("Convert(%+v) = %v, %v; want an empty config and one error", opts, cfg, errs)
		}
	}
}

// BenchmarkConvert converts a busy host: 1,000 or 10,000 labelled containers, in compose
// services of four replicas, each with a router, a middleware and service options. "all"
// converts every container (the first list); "one_changed" is a relist after one label of
// one container changed, which the memo turns into one conversion and a merge.
func BenchmarkConvert(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		containers := benchContainers(n)
		b.Run(fmt.Sprintf("containers=%d/all", n), func(b *testing.B) {
			cv, err := newConverter(ConvertOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				cfg, errs := cv.convert(containers)
				if len(errs) > 0 || len(cfg.HTTP.Services) != n/4 {
					b.Fatalf("%d services, errors %v", len(cfg.HTTP.Services), errs)
				}
			}
		})
		b.Run(fmt.Sprintf("containers=%d/one_changed", n), func(b *testing.B) {
			cv, err := newConverter(ConvertOptions{})
			if err != nil {
				b.Fatal(err)
			}
			cv.memo = newMemo()
			cv.convert(containers)
			gen := 0
			b.ReportAllocs()
			for b.Loop() {
				gen++
				c := &containers[0]
				labels := maps.Clone(c.Labels)
				labels["wharf.http.routers.svc0.rule"] = fmt.Sprintf("Host(`gen%d.example.com`)", gen)
				c.Labels = labels
				cfg, errs := cv.convert(containers)
				if len(errs) != 1 || len(cfg.HTTP.Services) != n/4 { // svc0's replicas now conflict
					b.Fatalf("%d services, errors %v", len(cfg.HTTP.Services), errs)
				}
			}
		})
	}
}

func benchContainers(n int) []Container {
	containers := make([]Container, n)
	for i := range containers {
		svc := fmt.Sprintf("svc%d", i/4)
		containers[i] = Container{ID: fmt.Sprintf("%064x", i), Name: fmt.Sprintf("proj-%s-%d", svc, i%4), State: "running",
			Labels: map[string]string{
				"wharf.enable": "true", composeService: svc, composeProject: "proj",
				"wharf.http.routers." + svc + ".rule":                               "Host(`" + svc + ".example.com`) && PathPrefix(`/api`)",
				"wharf.http.routers." + svc + ".middlewares":                        svc + "-strip",
				"wharf.http.middlewares." + svc + "-strip.stripprefix.prefixes":     "/api",
				"wharf.http.services." + svc + ".loadbalancer.server.port":          "8080",
				"wharf.http.services." + svc + ".loadbalancer.healthcheck.path":     "/health",
				"wharf.http.services." + svc + ".loadbalancer.healthcheck.interval": "10s",
			},
			ExposedPorts: []string{"8080/tcp"},
			Networks:     map[string]Network{"proj_default": {IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+2)}},
		}
	}
	return containers
}
