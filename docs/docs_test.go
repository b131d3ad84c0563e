// Package docs holds wharf's documentation. Its test keeps the reference pages true to the
// code: an option, label, middleware or DNS provider that exists in code and not in the
// docs fails it, and so does a documented static option that no longer exists.
package docs

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/static"
	"github.com/wharfproxy/wharf/provider/file"
	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/middleware"
	wtls "github.com/wharfproxy/wharf/tls"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tableRow matches a reference row: | `key` | ... and captures the key and the rest.
var tableRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|(.*)$")

// TestConfigurationReference: configuration.md has one row per static option, no row for an
// option that does not exist, and each row names the default the code applies.
func TestConfigurationReference(t *testing.T) {
	doc := read(t, "configuration.md")
	rows := map[string][]string{}
	for _, m := range tableRow.FindAllStringSubmatch(doc, -1) {
		if strings.Contains(m[1], ".") && !strings.HasPrefix(m[1], "WHARF_") && !strings.HasPrefix(m[1], "--") {
			rows[m[1]] = strings.Split(m[2], "|")
		}
	}
	keys := static.Keys()
	defaults := static.Defaults()
	for _, k := range keys {
		cells, ok := rows[k]
		if !ok {
			t.Errorf("static option %s is not documented: add a row `%s` to docs/configuration.md", k, k)
			continue
		}
		if def, ok := defaults[k]; ok && (len(cells) < 2 || !strings.Contains(cells[1], "`"+def+"`")) {
			t.Errorf("configuration.md: the default of %s is `%s` in code; its row says %q", k, def, strings.TrimSpace(cells[1]))
		}
	}
	for k := range rows {
		if !slices.Contains(keys, k) {
			t.Errorf("configuration.md documents %s, which is not a static option (renamed or removed?)", k)
		}
	}
}

// dynamicPaths lists every option of a dynamic configuration type as the file provider reads
// it, the way dynamic.Decode names fields. A middleware's options belong to its type and are
// written <type>.<option>.
func dynamicPaths(t *testing.T, typ reflect.Type, prefix string) []string {
	var out []string
	nodeType, sourceType := reflect.TypeFor[*dynamic.Node](), reflect.TypeFor[dynamic.Source]()
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer && typ != nodeType {
			typ = typ.Elem()
		}
		switch {
		case typ == reflect.TypeFor[dynamic.Middleware]():
			out = append(out, path+".<type>.<option>")
		case typ == nodeType || typ == reflect.TypeFor[time.Duration]():
			out = append(out, path)
		case typ.Kind() == reflect.Struct:
			var names []string
			for i := 0; i < typ.NumField(); i++ {
				sf := typ.Field(i)
				if !sf.IsExported() || sf.Type == sourceType || sf.Tag.Get("wharf") == "-" {
					continue
				}
				name := sf.Tag.Get("wharf")
				if name == "" {
					r := []rune(sf.Name)
					r[0] = unicode.ToLower(r[0])
					name = string(r)
				}
				names = append(names, name)
				walk(sf.Type, path+"."+name)
			}
			if len(names) == 0 {
				out = append(out, path) // a section without options: healthCheck: {}
			}
			if want := dynamic.FieldNames(typ); !slices.Equal(names, want) {
				t.Fatalf("%s: this test names fields %v, dynamic.Decode %v: update dynamicPaths", typ, names, want)
			}
		case typ.Kind() == reflect.Map:
			walk(typ.Elem(), path+".<name>")
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
			walk(typ.Elem(), path+"[n]")
		default:
			out = append(out, path)
		}
	}
	walk(typ, prefix)
	return out
}

// TestFileProviderReference: file-provider.md names every option of the dynamic model.
func TestFileProviderReference(t *testing.T) {
	doc := read(t, "file-provider.md")
	for _, p := range dynamicPaths(t, reflect.TypeFor[dynamic.Configuration](), "") {
		p = strings.TrimPrefix(p, ".")
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("dynamic option %s is not documented: add a row `%s` to docs/file-provider.md", p, p)
		}
	}
}

// TestLabelsReference: labels.md names every router and load-balancer option in label form.
// (Servers by URL are not written in labels: the address is the container's.)
func TestLabelsReference(t *testing.T) {
	doc := strings.ToLower(read(t, "labels.md"))
	paths := dynamicPaths(t, reflect.TypeFor[dynamic.Router](), "http.routers.<name>")
	for _, p := range dynamicPaths(t, reflect.TypeFor[dynamic.LoadBalancer](), "http.services.<name>.loadbalancer") {
		if !strings.Contains(p, ".servers[n].") {
			paths = append(paths, p)
		}
	}
	paths = append(paths, "enable", "docker.network", "docker.lbswarm")
	for _, p := range paths {
		label := "wharf." + strings.ToLower(p)
		if !strings.Contains(doc, "`"+label+"`") {
			t.Errorf("label %s is not documented in docs/labels.md", label)
		}
	}
}

// TestMiddlewaresReference: middlewares.md names every middleware type.
func TestMiddlewaresReference(t *testing.T) {
	doc := read(t, "middlewares.md")
	for _, name := range middleware.Names() {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(doc) {
			t.Errorf("middleware %s is not documented in docs/middlewares.md", name)
		}
	}
}

// traefikMiddlewares are Traefik v3's HTTP middleware types, for the migration guide.
var traefikMiddlewares = []string{"addPrefix", "basicAuth", "buffering", "chain", "circuitBreaker",
	"compress", "contentType", "digestAuth", "errors", "forwardAuth", "grpcWeb", "headers",
	"inFlightReq", "ipAllowList", "ipWhiteList", "passTLSClientCert", "plugin", "rateLimit",
	"redirectRegex", "redirectScheme", "replacePath", "replacePathRegex", "retry", "stripPrefix",
	"stripPrefixRegex"}

// TestMigrationGuide: the Traefik migration guide puts each Traefik middleware, and each DNS
// provider wharf knows, on the side of the line where the code is.
func TestMigrationGuide(t *testing.T) {
	doc := read(t, "../examples/traefik-migration/README.md")
	supported, notYet, ok := strings.Cut(doc, "## What is not supported yet")
	if !ok {
		t.Fatal(`the guide has no "## What is not supported yet" section`)
	}
	supported = supported[strings.Index(supported, "## What carries over"):]
	names := middleware.Names()
	for _, m := range traefikMiddlewares {
		switch {
		case slices.Contains(names, m) && !strings.Contains(supported, "`"+m+"`"):
			t.Errorf("wharf has the middleware %s: list it under \"What carries over\" in the migration guide", m)
		case !slices.Contains(names, m) && !strings.Contains(notYet, "`"+m+"`"):
			t.Errorf("wharf has no middleware %s: list it under \"What is not supported yet\" in the migration guide", m)
		}
	}
	for _, m := range names {
		if !slices.Contains(traefikMiddlewares, m) && !strings.Contains(supported, "`"+m+"`") {
			t.Errorf("wharf's middleware %s is missing from the migration guide", m)
		}
	}
	for _, p := range wtls.DNSProviderNames() {
		if !strings.Contains(supported, "`"+p+"`") {
			t.Errorf("wharf knows the DNS provider %s: list it in the migration guide", p)
		}
	}
}

// TestExampleConfigs: every example's wharf.yml loads, and its dynamic files load without
// a problem, so a typo in an example is caught without Docker.
func TestExampleConfigs(t *testing.T) {
	ymls, _ := filepath.Glob("../examples/*/wharf.yml")
	if len(ymls) < 3 {
		t.Fatalf("found %d examples/*/wharf.yml", len(ymls))
	}
	for _, y := range ymls {
		var env []string
		if strings.Contains(read(t, y), "certificatesResolvers") {
			// The compose file passes the email from .env as a variable.
			env = []string{"WHARF_CERTIFICATESRESOLVERS_LE_ACME_EMAIL=you@example.com"}
		}
		if _, err := static.Load([]string{"--config", y}, env); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
	dirs, _ := filepath.Glob("../examples/*/dynamic")
	configs := []file.Config{{Filename: "../examples/file/dynamic.yml"}}
	for _, d := range dirs {
		configs = append(configs, file.Config{Directory: d})
	}
	for _, c := range configs {
		p, err := file.New(c, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if msg := p.Load(); len(msg.Errors) > 0 {
			t.Errorf("%s%s: %v", c.Filename, c.Directory, msg.Errors)
		}
	}
}

// TestExamplesDocumented: each example has a README and a compose file, README.md links to
// each, and the relative links in these pages and the examples' READMEs lead somewhere.
func TestExamplesDocumented(t *testing.T) {
	readme := read(t, "../README.md")
	pages := []string{"configuration.md", "labels.md", "file-provider.md", "image.md"}
	for _, ex := range []string{"compose-basic", "home-server", "file-provider", "traefik-migration", "socket-proxy"} {
		dir := filepath.Join("..", "examples", ex)
		if _, err := os.Stat(filepath.Join(dir, "docker-compose.yml")); err != nil {
			t.Errorf("examples/%s: %v", ex, err)
		}
		pages = append(pages, filepath.Join(dir, "README.md"))
		if !strings.Contains(readme, "examples/"+ex) {
			t.Errorf("README.md does not link to examples/%s", ex)
		}
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, page := range pages {
		for _, m := range link.FindAllStringSubmatch(read(t, page), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, target)
			}
		}
	}
}
