package confnode

import (
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

const yamlDoc = `http:
  routers:
    blog:
      rule: "Host(` + "`blog.example.com`" + `)"
      entryPoints:
        - web
        - websecure
      tls:
        domains:
          - main: example.com
            sans: [a.example.com, b.example.com]
  services:
    blog:
      loadBalancer:
        servers:
          - url: http://10.0.0.1:80
          - url: http://10.0.0.2:80
empty:
nothing: ~
`

func TestYAMLPositions(t *testing.T) {
	n, err := YAML([]byte(yamlDoc), "dynamic.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkPositions(t, n, []posCase{
		{"http", "", "1:1"},
		{"http.routers.blog", "", "3:5"},
		{"http.routers.blog.rule", "Host(`blog.example.com`)", "4:7"},
		{"http.routers.blog.entryPoints", "", "5:7"},
		{"http.routers.blog.entryPoints[1]", "websecure", "7:11"},
		{"http.routers.blog.tls.domains[0]", "", "10:13"},
		{"http.routers.blog.tls.domains[0].main", "example.com", "10:13"},
		{"http.routers.blog.tls.domains[0].sans[1]", "b.example.com", "11:35"},
		{"http.services.blog.loadBalancer.servers[1].url", "http://10.0.0.2:80", "17:13"},
		{"empty", "", "18:1"},
		{"nothing", "", "19:1"},
	})
	if n.Src.File != "dynamic.yml" {
		t.Errorf("root file = %q", n.Src.File)
	}
}

func TestYAMLMergeKeys(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"explicit_key_after_merge_wins", "base: &b {rule: a, priority: 1}\nr:\n  <<: *b\n  priority: 2\n",
			`{rule:"a",priority:"2"}`},
		{"explicit_key_before_merge_wins", "base: &b {rule: a, priority: 1}\nr:\n  priority: 2\n  <<: *b\n",
			`{priority:"2",rule:"a"}`},
		{"override_is_case_insensitive", "base: &b {rule: a}\nr:\n  <<: *b\n  Rule: c\n",
			`{Rule:"c"}`},
		{"first_of_a_merged_list_wins", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nr:\n  <<: [*a, *b]\n",
			`{x:"1",y:"2"}`},
		{"nested_merges_resolve", "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nr:\n  <<: *b\n  z: 3\n",
			`{x:"1",y:"2",z:"3"}`},
		{"inline_map_merge", "r:\n  <<: {x: 1}\n  x: 2\n",
			`{x:"2"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := YAML([]byte(c.doc), "m.yml")
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(at(t, n, "r")); got != c.want {
				t.Errorf("r = %s; want %s", got, c.want)
			}
		})
	}
}

func TestYAMLMergedValuesPointAtTheirDefinition(t *testing.T) {
	doc := "defaults: &d\n  priority: 1\nr:\n  <<: *d\n  rule: x\n"
	n, err := YAML([]byte(doc), "m.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkPositions(t, n, []posCase{{"r.priority", "1", "2:3"}, {"r.rule", "x", "5:3"}})
}

func TestYAMLErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unterminated_flow_list", "x: 1\ny: 2\na: [1, 2\n", `f.yml:3: invalid YAML: did not find expected ',' or ']'`},
		{"bad_indentation", "a:\n  b: c\n d: e\n", `f.yml:3: invalid YAML: did not find expected key`},
		{"mapping_in_scalar_on_first_line", "a: b: c\n", `f.yml:1: invalid YAML: mapping values are not allowed in this context`},
		{"tab_indentation", "x: 1\n\ty: 2\n", `f.yml:2: invalid YAML: found a tab character that violates indentation`},
		{"unterminated_string", "a: \"x\n", `f.yml:2: invalid YAML: found unexpected end of stream`},
		{"unknown_alias", "x: 1\na: *nope\n", `f.yml:2:4: invalid YAML: unknown anchor 'nope' referenced`},
		{"second_document", "a: 1\n---\nb: 2\n", `f.yml:2:1: a second YAML document (---) is not supported; use one document per file`},
		{"merge_of_a_scalar", "r:\n  <<: 1\n", `f.yml:2:7: a merge key (<<) takes a map or a list of maps`},
		{"complex_key", "? [a]\n: 1\n", `f.yml:1:3: a key must be a plain value, not a list or a map`},
		{"self_referencing_alias", "a: &x [*x]\n", `nested more than 64 levels deep`},
		{"too_deep", strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", `nested more than 64 levels deep`},
		{"billion_laughs", laughs(), `aliases expand to too many values`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := YAML([]byte(c.doc), "f.yml")
			if err == nil {
				t.Fatalf("no error; want %s", c.want)
			}
			if _, ok := err.(*dynamic.Error); !ok {
				t.Errorf("error is %T; want *dynamic.Error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %q; want %q", err, c.want)
			}
		})
	}
}

// laughs is the "billion laughs" document: nine levels of ten aliases each.
func laughs() string {
	var b strings.Builder
	b.WriteString("l0: &l0 x\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestYAMLEmpty(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n"} {
		n, err := YAML([]byte(doc), "e.yml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if n.Kind != dynamic.Map || len(n.Entries) != 0 || n.Src.File != "e.yml" {
			t.Errorf("%q: got %s %+v; want an empty map", doc, shape(n), n.Src)
		}
	}
}

func TestYAMLTooLarge(t *testing.T) {
	_, err := YAML(make([]byte, MaxSize+1), "big.yml")
	if err == nil || !strings.HasPrefix(err.Error(), "big.yml: file is larger than 4 MiB") {
		t.Fatalf("err = %v", err)
	}
}
