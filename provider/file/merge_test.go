package file

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func TestDirectory(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		want    []string // errors, with DIR for the directory
		routers string
	}{
		{"files_merge_in_name_order",
			map[string]string{"a.yml": "http:\n  routers:\n    a: {rule: x}\n", "b.toml": "[http.routers.b]\nrule = \"y\"\n"},
			nil, "a,b"},
		{"conflicting_name_is_dropped_naming_both_files",
			map[string]string{
				"a.yml":  "http:\n  routers:\n    blog: {rule: x}\n    a: {rule: x}\n",
				"b.toml": "[http.routers.blog]\nrule = \"y\"\n",
			},
			[]string{"DIR/b.toml:1:15: http.routers.blog: defined differently in DIR/a.yml:3:5 and DIR/b.toml:1:15; both definitions are left out"},
			"a"},
		{"names_conflict_whatever_their_case",
			map[string]string{"a.yml": "http:\n  routers:\n    Blog: {rule: x}\n", "b.yml": "http:\n  routers:\n    blog: {rule: y}\n"},
			[]string{"DIR/b.yml:3:5: http.routers.blog: defined differently in DIR/a.yml:3:5 and DIR/b.yml:3:5; both definitions are left out"},
			""},
		{"identical_definitions_merge",
			map[string]string{
				"a.yml": "http:\n  middlewares:\n    gzip: {compress: {}}\n  routers:\n    a: {rule: x, middlewares: [gzip]}\n",
				"b.yml": "# shared\nhttp:\n  middlewares:\n    gzip:\n      compress: {}\n",
			},
			nil, "a"},
		{"conflict_in_a_section_without_sources",
			map[string]string{"a.yml": "tls:\n  stores:\n    default: {defaultCertificate: {certFile: a}}\n", "b.yml": "tls:\n  stores:\n    default: {defaultCertificate: {certFile: b}}\n"},
			[]string{"DIR/b.yml:3:5: tls.stores.default: defined differently in DIR/a.yml:3:5 and DIR/b.yml:3:5; both definitions are left out"},
			""},
		{"other_files_are_ignored",
			map[string]string{
				"a.yml": "http:\n  routers:\n    a: {rule: x}\n", ".#a.yml": "broken: [", "a.yml~": "broken: [",
				"notes.txt": "x", "sub/c.yml": "http:\n  routers:\n    c: {rule: x}\n",
			},
			nil, "a"},
		{"one_broken_file_does_not_affect_the_others",
			map[string]string{"a.yml": "http:\n  routers:\n    a: {rule: x}\n", "b.yml": "http: [\n"},
			[]string{"DIR/b.yml:2: invalid YAML: did not find expected node content"},
			"a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range c.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, content)
			}
			m := newProvider(t, Config{Directory: dir}).Load()
			var want []string
			for _, w := range c.want {
				want = append(want, strings.ReplaceAll(w, "DIR", dir))
			}
			if got := errorStrings(m); !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if got := routerNames(m); got != c.routers {
				t.Errorf("routers = %q; want %q", got, c.routers)
			}
		})
	}
}

func TestDirectoryConcatenatesCertificates(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yml"), "tls:\n  certificates:\n    - {certFile: a.crt, keyFile: a.key}\n")
	writeFile(t, filepath.Join(dir, "b.toml"), "[[tls.certificates]]\ncertFile = \"b.crt\"\nkeyFile = \"b.key\"\n")
	m := newProvider(t, Config{Directory: dir}).Load()
	var got []string
	for _, c := range m.Config.TLS.Certificates {
		got = append(got, c.CertFile)
	}
	if len(m.Errors) > 0 || strings.Join(got, ",") != "a.crt,b.crt" {
		t.Errorf("certificates = %v, errors = %v; want a.crt,b.crt", got, m.Errors)
	}
}

func TestDirectoryRemovedFileWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	writeFile(t, a, "http:\n  routers:\n    a: {rule: x}\n")
	writeFile(t, b, "http:\n  routers:\n    b: {rule: x}\n")
	p := newProvider(t, Config{Directory: dir})
	if m := p.Load(); routerNames(m) != "a,b" {
		t.Fatalf("routers = %s", routerNames(m))
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	m := p.Load()
	if got, want := errorStrings(m), []string{"warning: " + b + ": file was removed; what it defined is withdrawn"}; !reflect.DeepEqual(got, want) || routerNames(m) != "a" {
		t.Errorf("errors = %q, routers = %s; want %q, a", got, routerNames(m), want)
	}
	if m := p.Load(); len(m.Errors) != 0 {
		t.Errorf("second load after removal: %v; want no warning", m.Errors)
	}
}

func TestDirectoryThatCannotBeListedKeepsWhatWasKnown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yml"), "http:\n  routers:\n    a: {rule: x}\n")
	p := newProvider(t, Config{Directory: dir})
	p.Load()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	m := p.Load()
	if len(m.Errors) != 1 || !strings.Contains(m.Errors[0].Error(), "cannot list the directory") || routerNames(m) != "a" {
		t.Errorf("errors = %v, routers = %s; want a listing error and router a", m.Errors, routerNames(m))
	}
}

func TestSameDefinition(t *testing.T) {
	one, two := 1, 2
	at := func(line int) dynamic.Source { return dynamic.Source{File: "f", Line: line} }
	opts := func(v string, line int) *dynamic.Node {
		return &dynamic.Node{Kind: dynamic.Map, Src: at(line), Entries: []dynamic.Entry{{Key: "k", Value: &dynamic.Node{Kind: dynamic.Scalar, Value: v, Src: at(line)}}}}
	}
	cases := []struct {
		name string
		a, b any
		want bool
	}{
		{"sources_ignored", &dynamic.Router{Rule: "x", Source: at(1)}, &dynamic.Router{Rule: "x", Source: at(9)}, true},
		{"field_differs", &dynamic.Router{Rule: "x"}, &dynamic.Router{Rule: "y"}, false},
		{"nil_and_empty_slices", &dynamic.Router{}, &dynamic.Router{EntryPoints: []string{}}, true},
		{"pointer_values", &dynamic.Server{Weight: &one}, &dynamic.Server{Weight: &two}, false},
		{"nil_pointer", &dynamic.Server{Weight: &one}, &dynamic.Server{}, false},
		{"node_sources_ignored", &dynamic.Middleware{Type: "t", Options: opts("v", 1)}, &dynamic.Middleware{Type: "t", Options: opts("v", 5)}, true},
		{"node_values_compared", &dynamic.Middleware{Type: "t", Options: opts("v", 1)}, &dynamic.Middleware{Type: "t", Options: opts("w", 1)}, false},
		{"maps", &dynamic.HealthCheck{Headers: map[string]string{"a": "1"}}, &dynamic.HealthCheck{Headers: map[string]string{"a": "2"}}, false},
		{"different_types", &dynamic.Router{}, &dynamic.Service{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := dynamic.SameDefinition(c.a, c.b); got != c.want {
				t.Errorf("SameDefinition = %v; want %v", got, c.want)
			}
		})
	}
}

// The merge copies named maps section by section: a map added to the model but not to
// sections would silently vanish from every file-provided snapshot.
func TestSectionsCoverConfiguration(t *testing.T) {
	listed := map[string]bool{}
	for _, s := range sections {
		listed[strings.ToLower(s.path())] = true
	}
	top := reflect.TypeFor[dynamic.Configuration]()
	for i := range top.NumField() {
		f := top.Field(i)
		sub := f.Type.Elem()
		for j := range sub.NumField() {
			g := sub.Field(j)
			path := strings.ToLower(f.Name + "." + g.Name)
			switch {
			case g.Type.Kind() == reflect.Map && !listed[path]:
				t.Errorf("%s is not in sections", path)
			case g.Type.Kind() == reflect.Slice && path != "tls.certificates":
				t.Errorf("%s is a list the merge does not know", path)
			}
		}
	}
}
