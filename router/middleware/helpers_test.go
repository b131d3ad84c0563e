package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/confnode"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// labels builds the options of middleware "m" of type typ the way the Docker provider does:
// one label per option, each with its source.
func labels(t testing.TB, typ string, kv ...string) *dynamic.Node {
	t.Helper()
	if len(kv) == 1 {
		return &dynamic.Node{Kind: dynamic.Scalar, Value: kv[0], Src: labelSrc(typ, "")}
	}
	var pairs []dynamic.Dotted
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, dynamic.Dotted{Key: kv[i], Value: kv[i+1], Src: labelSrc(typ, kv[i])})
	}
	n, errs := dynamic.FromDotted(pairs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	n.Src = labelSrc(typ, "")
	return n
}

func labelSrc(typ, key string) dynamic.Source {
	l := "wharf.http.middlewares.m." + strings.ToLower(typ)
	if key != "" {
		l += "." + strings.ToLower(key)
	}
	return dynamic.Source{Provider: "docker", Container: "app", Label: l}
}

// fileOpts builds options from YAML written under the type key, as in a dynamic.yml file.
func fileOpts(t testing.TB, yaml string) *dynamic.Node {
	t.Helper()
	n, err := confnode.YAML([]byte(yaml), "dyn.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Entries) != 1 {
		t.Fatalf("want one type key, got %d", len(n.Entries))
	}
	return n.Entries[0].Value
}

func testEnv(typ string) *Env {
	return &Env{Name: "m@docker", Path: "http.middlewares.m@docker." + typ, Provider: "docker", Log: zerolog.Nop()}
}

// build makes a middleware of type typ from opts, failing the test on error.
func build(t testing.TB, typ string, opts *dynamic.Node) Middleware {
	t.Helper()
	mw, err := buildErr(typ, opts)
	if err != nil {
		t.Fatalf("build %s: %v", typ, err)
	}
	return mw
}

func buildErr(typ string, opts *dynamic.Node) (Middleware, error) {
	tp, ok := Lookup(typ)
	if !ok {
		return nil, UnknownTypeError(typ)
	}
	return tp.New(testEnv(tp.Name), opts)
}

// okHandler answers 200 with the path it received.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.URL.RequestURI())
})

// serve runs one request through h and returns the recorded response.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func body(rec *httptest.ResponseRecorder) string {
	b, _ := io.ReadAll(rec.Result().Body)
	return string(b)
}

// buildEnv is build with an environment the test adjusts (services, other middlewares).
func buildEnv(t testing.TB, typ string, opts *dynamic.Node, adjust func(*Env)) (Middleware, error) {
	t.Helper()
	tp, ok := Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	env := testEnv(tp.Name)
	adjust(env)
	return tp.New(env, opts)
}
