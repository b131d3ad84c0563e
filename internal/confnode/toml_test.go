package confnode

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

const tomlDoc = `# routers
[http.routers.blog]
  rule = "Host(` + "`blog.example.com`" + `)"
  entryPoints = ["web", "websecure"]
  [http.routers.blog.tls]
    [[http.routers.blog.tls.domains]]
      main = "example.com"
      sans = ["a.example.com", 'b.example.com']

[http.services.blog.loadBalancer]
  passHostHeader = false
  healthCheck.path = "/health"
  healthCheck.interval = 10
  [[http.services.blog.loadBalancer.servers]]
    url = "http://10.0.0.1:80"
  [[http.services.blog.loadBalancer.servers]]
    url = "http://10.0.0.2:80"
    weight = 3

[http.middlewares]
  strip = { stripPrefix = { prefixes = ["/api"] } }
`

func TestTOMLPositions(t *testing.T) {
	n, err := TOML([]byte(tomlDoc), "dynamic.toml")
	if err != nil {
		t.Fatal(err)
	}
	checkPositions(t, n, []posCase{
		{"http", "", "2:2"},
		{"http.routers.blog", "", "2:15"},
		{"http.routers.blog.rule", "Host(`blog.example.com`)", "3:3"},
		{"http.routers.blog.entryPoints", "", "4:3"},
		{"http.routers.blog.entryPoints[1]", "websecure", "4:25"},
		{"http.routers.blog.tls", "", "5:22"},
		{"http.routers.blog.tls.domains[0]", "", "6:29"},
		{"http.routers.blog.tls.domains[0].main", "example.com", "7:7"},
		{"http.routers.blog.tls.domains[0].sans[1]", "b.example.com", "8:32"},
		{"http.services.blog.loadBalancer.passHostHeader", "false", "11:3"},
		{"http.services.blog.loadBalancer.healthCheck", "", "12:3"},
		{"http.services.blog.loadBalancer.healthCheck.path", "/health", "12:15"},
		{"http.services.blog.loadBalancer.healthCheck.interval", "10", "13:15"},
		{"http.services.blog.loadBalancer.servers", "", "14:37"},
		{"http.services.blog.loadBalancer.servers[1]", "", "16:37"},
		{"http.services.blog.loadBalancer.servers[1].url", "http://10.0.0.2:80", "17:5"},
		{"http.services.blog.loadBalancer.servers[1].weight", "3", "18:5"},
		{"http.middlewares.strip", "", "21:3"},
		{"http.middlewares.strip.stripPrefix", "", "21:13"},
		{"http.middlewares.strip.stripPrefix.prefixes[0]", "/api", "21:41"},
	})
}

func TestTOMLImplicitTableDefinedLaterPointsAtItsHeader(t *testing.T) {
	n, err := TOML([]byte("[a.b.c]\nx = 1\n[a.b]\ny = 2\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	checkPositions(t, n, []posCase{{"a.b", "", "3:4"}, {"a.b.c.x", "1", "2:1"}, {"a.b.y", "2", "4:1"}})
}

func TestTOMLValues(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{"basic_string_unescaped", `"a\tb \u00e9"`, "a\tb é"},
		{"literal_string", `'C:\path'`, `C:\path`},
		{"multiline_string", "\"\"\"\nline1\nline2\"\"\"", "line1\nline2"},
		{"integer", "42", "42"},
		{"integer_with_underscores", "1_000", "1000"},
		{"negative_integer", "-17", "-17"},
		{"plus_integer", "+17", "17"},
		{"hex_integer", "0xdead_beef", "3735928559"},
		{"octal_integer", "0o755", "493"},
		{"binary_integer", "0b1010", "10"},
		{"float", "3.5", "3.5"},
		{"whole_float", "3.0", "3"},
		{"exponent_float", "1e6", "1000000"},
		{"huge_float", "1e300", "1e+300"},
		{"inf", "-inf", "-Inf"},
		{"nan", "+nan", "NaN"},
		{"bool", "true", "true"},
		{"offset_datetime", "1979-05-27T07:32:00-07:00", "1979-05-27T07:32:00-07:00"},
		{"offset_datetime_with_space_and_z", "1979-05-27 07:32:00.5z", "1979-05-27T07:32:00.5Z"},
		{"local_datetime", "1979-05-27T07:32:00", "1979-05-27T07:32:00"},
		{"local_date", "1979-05-27", "1979-05-27"},
		{"local_time", "07:32:00.999", "07:32:00.999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := TOML([]byte("v = "+c.value+"\n"), "v.toml")
			if err != nil {
				t.Fatal(err)
			}
			if got := at(t, n, "v"); got.Kind != dynamic.Scalar || got.Value != c.want {
				t.Errorf("v = %v %q; want %q", got.Kind, got.Value, c.want)
			}
		})
	}
}

func TestTOMLStructures(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"dotted_keys_nest", "a.b.c = 1\na.b.d = 2\n", `{a:{b:{c:"1",d:"2"}}}`},
		{"quoted_dotted_key_is_one_key", "\"a.b\" = 1\n", `{a.b:"1"}`},
		{"inline_table", "t = { x = 1, y.z = 2 }\n", `{t:{x:"1",y:{z:"2"}}}`},
		{"array_of_tables", "[[s]]\nu = 1\n[[s]]\nu = 2\n", `{s:[{u:"1"},{u:"2"}]}`},
		{"subtable_of_last_array_element", "[[s]]\nu = 1\n[[s]]\n[s.t]\nv = 2\n", `{s:[{u:"1"},{t:{v:"2"}}]}`},
		{"nested_arrays", "a = [[1, 2], [], ['x']]\n", `{a:[["1","2"],[],["x"]]}`},
		{"array_of_inline_tables", "a = [{x = 1}, {y = 2}]\n", `{a:[{x:"1"},{y:"2"}]}`},
		{"empty_table", "[t]\n", `{t:{}}`},
		{"dotted_table_extended_by_subtable", "[f]\na.x = 1\n[f.a.b]\ny = 2\n", `{f:{a:{x:"1",b:{y:"2"}}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := TOML([]byte(c.doc), "s.toml")
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(n); got != c.want {
				t.Errorf("got %s; want %s", got, c.want)
			}
		})
	}
}

func TestTOMLErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"missing_value", "[a]\nb = 1\nc = \n", `f.toml:3:5: invalid TOML: unexpected character U+000A at start of value`},
		{"unterminated_string", "a = \"oops\n", `f.toml:1:10: invalid TOML: basic strings cannot have new lines`},
		{"incomplete_array_at_end", "a = 1\nb = [1,\n", `f.toml:2:8: invalid TOML: array is incomplete`},
		{"missing_equals", "a 1\n", `f.toml:1:3: invalid TOML: expected '=' after key`},
		{"position_counts_characters", "é = 1\n", `f.toml:1:1: invalid TOML: invalid character at start of key: U+00C3`},
		{"duplicate_key", "a = 1\nb = 2\na = 3\n", `f.toml:3:1: key "a" is defined twice (first at line 1)`},
		{"duplicate_table", "[a]\nb = 1\n[a]\n", `f.toml:3:2: table [a] is defined twice (first at line 1)`},
		{"table_over_dotted_keys", "a.b = 1\n[a]\n", `f.toml:2:2: table [a] is defined twice (first at line 1)`},
		{"value_then_subkey", "[a]\nb = 1\nb.c = 2\n", `f.toml:3:1: key "b" is already defined as a value at line 2`},
		{"extend_inline_table", "a = {x = 1}\n[a.b]\n", `f.toml:2:2: cannot extend "a": it is complete as written at line 1`},
		{"extend_inline_table_by_dotted_key", "a = {x = 1}\na.y = 2\n", `f.toml:2:1: cannot add keys to "a": it is an inline table`},
		{"array_table_over_array_value", "a = [1]\n[[a]]\n", `f.toml:2:3: [[a]] names a key already defined at line 1 that is not an array of tables`},
		{"table_over_array_of_tables", "[[a]]\n[a]\n", `f.toml:2:2: table [a] is defined twice (first at line 1)`},
		{"integer_overflow", "a = 99999999999999999999\n", `f.toml:1:5: invalid TOML: integer 99999999999999999999 does not fit in 64 bits`},
		{"bad_date", "a = 1979-13-27\n", `f.toml:1:5: invalid TOML: "1979-13-27" is not a valid date or time`},
		{"too_deep", "a = " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", `nested more than 64 levels deep`},
		{"too_deep_dotted", "a" + strings.Repeat(".a", 70) + " = 1\n", `nested more than 64 levels deep`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := TOML([]byte(c.doc), "f.toml")
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

func TestTOMLEmpty(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n"} {
		n, err := TOML([]byte(doc), "e.toml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if n.Kind != dynamic.Map || len(n.Entries) != 0 || n.Src.File != "e.toml" {
			t.Errorf("%q: got %s; want an empty map", doc, shape(n))
		}
	}
}

func TestTOMLTooLarge(t *testing.T) {
	_, err := TOML(make([]byte, MaxSize+1), "big.toml")
	if err == nil || !strings.HasPrefix(err.Error(), "big.toml: file is larger than 4 MiB") {
		t.Fatalf("err = %v", err)
	}
}

// A TOML file and its YAML translation must give the decoder the same tree.
func TestTOMLAndYAMLAgree(t *testing.T) {
	y, err := YAML([]byte(yamlDoc), "d.yml")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := TOML([]byte(`[http.routers.blog]
rule = "Host(`+"`blog.example.com`"+`)"
entryPoints = ["web", "websecure"]
[[http.routers.blog.tls.domains]]
main = "example.com"
sans = ["a.example.com", "b.example.com"]
[[http.services.blog.loadBalancer.servers]]
url = "http://10.0.0.1:80"
[[http.services.blog.loadBalancer.servers]]
url = "http://10.0.0.2:80"
[empty]
[nothing]
`), "d.toml")
	if err != nil {
		t.Fatal(err)
	}
	// YAML's `empty:` is an empty scalar where TOML has an empty table; the decoder treats
	// both as "nothing set", so compare after normalizing that one difference.
	ys := strings.NewReplacer(`empty:""`, `empty:{}`, `nothing:""`, `nothing:{}`).Replace(shape(y))
	if ts := shape(tm); ys != ts {
		t.Errorf("YAML: %s\nTOML: %s", ys, ts)
	}
}

// One very long line with many keys must not be located quadratically.
func TestTOMLLongLine(t *testing.T) {
	var b strings.Builder
	b.WriteString("t = {")
	for i := 0; i < 100000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a'+i%26)) + "_" + strconv.Itoa(i) + " = 1")
	}
	b.WriteString("}\n")
	n, err := TOML([]byte(b.String()), "long.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(at(t, n, "t").Entries); got != 100000 {
		t.Fatalf("%d entries", got)
	}
}
