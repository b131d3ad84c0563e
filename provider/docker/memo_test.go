package docker

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// memoContainer is a served container with one router and one service named after it.
func memoContainer(name string) Container {
	return Container{ID: "id-" + name, Name: name, State: "running", ExposedPorts: []string{"80/tcp"},
		Networks: map[string]Network{"bridge": {IP: "172.17.0.2"}},
		Labels: map[string]string{"wharf.enable": "true",
			"wharf.http.routers." + name + ".rule": "Host(`" + name + ".test`)"}}
}

// fresh converts without a memo: what every conversion must equal.
func fresh(t *testing.T, list []Container, opts ConvertOptions) []byte {
	t.Helper()
	cv, err := newConverter(opts)
	if err != nil {
		t.Fatal(err)
	}
	return renderGolden(cv.convert(list))
}

func memoized(t *testing.T, opts ConvertOptions) func(list []Container) (*dynamic.Configuration, dynamic.Errors) {
	t.Helper()
	cv, err := newConverter(opts)
	if err != nil {
		t.Fatal(err)
	}
	cv.memo = newMemo()
	return func(list []Container) (*dynamic.Configuration, dynamic.Errors) {
		c := *cv
		return c.convert(list)
	}
}

func TestMemo(t *testing.T) {
	t.Run("changed_label_is_picked_up", func(t *testing.T) {
		conv := memoized(t, ConvertOptions{})
		list := []Container{memoContainer("a"), memoContainer("b")}
		conv(list)
		list[1].Labels = maps.Clone(list[1].Labels)
		list[1].Labels["wharf.http.routers.b.rule"] = "Host(`new.test`)"
		cfg, _ := conv(list)
		if got := cfg.HTTP.Routers["b"].Rule; got != "Host(`new.test`)" {
			t.Errorf("rule = %q; want the new one", got)
		}
	})
	t.Run("label_changed_in_place_is_picked_up", func(t *testing.T) {
		conv := memoized(t, ConvertOptions{})
		list := []Container{memoContainer("a")}
		conv(list)
		list[0].Labels["wharf.http.routers.a.rule"] = "Host(`new.test`)"
		cfg, _ := conv(list)
		if got := cfg.HTTP.Routers["a"].Rule; got != "Host(`new.test`)" {
			t.Errorf("rule = %q; want the new one", got)
		}
	})
	t.Run("removed_container_disappears", func(t *testing.T) {
		conv := memoized(t, ConvertOptions{})
		conv([]Container{memoContainer("a"), memoContainer("b")})
		cfg, _ := conv([]Container{memoContainer("a")})
		if _, ok := cfg.HTTP.Routers["b"]; ok || len(cfg.HTTP.Services) != 1 {
			t.Errorf("routers %v, services %v; want b gone", sortedKeys(cfg.HTTP.Routers), sortedKeys(cfg.HTTP.Services))
		}
	})
	t.Run("unchanged_container_error_is_reported_every_time", func(t *testing.T) {
		conv := memoized(t, ConvertOptions{})
		bad := memoContainer("bad")
		bad.Labels["wharf.http.routers.bad.priority"] = "high"
		list := []Container{memoContainer("a"), bad}
		for i := range 3 {
			list[0].Labels = maps.Clone(list[0].Labels)
			list[0].Labels["wharf.http.routers.a.rule"] = fmt.Sprintf("Host(`a%d.test`)", i)
			_, errs := conv(list)
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "priority") {
				t.Fatalf("conversion %d: errors %v; want the priority error", i, errs)
			}
			errs[0].Msg += " (annotated by the caller)"
		}
	})
	t.Run("conflict_with_an_unchanged_container_is_found", func(t *testing.T) {
		conv := memoized(t, ConvertOptions{})
		a, b := memoContainer("a"), memoContainer("b")
		a.Labels["wharf.http.routers.a.service"] = "a"
		b.Labels["wharf.http.routers.a.rule"] = "Host(`a.test`)"
		b.Labels["wharf.http.routers.a.service"] = "a"
		list := []Container{a, b}
		if _, errs := conv(list); len(errs) != 0 {
			t.Fatalf("identical definitions: errors %v", errs)
		}
		list[1].Labels = maps.Clone(b.Labels)
		list[1].Labels["wharf.http.routers.a.rule"] = "Host(`other.test`)"
		cfg, errs := conv(list)
		if _, ok := cfg.HTTP.Routers["a"]; ok || len(errs) != 1 || !strings.Contains(errs[0].Msg, "defined differently") {
			t.Fatalf("router a kept: %v; errors %v; want the conflict", ok, errs)
		}
		_, errs = conv(list) // both unchanged now
		if len(errs) != 1 || !strings.Contains(errs[0].Msg, "defined differently") {
			t.Fatalf("second conversion: errors %v; want the conflict again", errs)
		}
	})
	t.Run("new_self_changes_the_network", func(t *testing.T) {
		c := memoContainer("a")
		c.Networks = map[string]Network{"front": {IP: "10.0.1.2"}, "back": {IP: "10.0.2.2"}}
		self := &Container{ID: "self", Name: "wharf", State: "running", Networks: map[string]Network{"front": {IP: "10.0.1.9"}}}
		cv, err := newConverter(ConvertOptions{Self: self})
		if err != nil {
			t.Fatal(err)
		}
		cv.memo = newMemo()
		cfg, _ := cv.convert([]Container{c})
		if got := cfg.HTTP.Services["a"].LoadBalancer.Servers[0].URL; got != "http://10.0.1.2:80" {
			t.Fatalf("url %q; want the network shared with wharf", got)
		}
		self.Networks = map[string]Network{"back": {IP: "10.0.2.9"}} // changed in place
		cfg, _ = cv.convert([]Container{c})
		if got := cfg.HTTP.Services["a"].LoadBalancer.Servers[0].URL; got != "http://10.0.2.2:80" {
			t.Fatalf("url %q after wharf moved; want the new shared network", got)
		}
	})
}

// TestMemoEqualsFresh converts every golden input, then each with one container changed,
// removed or added, through one memo, and compares every result with a conversion that
// has none.
func TestMemoEqualsFresh(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		tc := loadCase(t, in)
		if len(tc.Containers) == 0 {
			continue
		}
		conv := memoized(t, tc.Options)
		check := func(step string, list []Container) {
			t.Helper()
			got, want := renderGolden(conv(list)), fresh(t, list, tc.Options)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s, %s: memoized conversion differs:\n%s\nwithout memo:\n%s", filepath.Base(in), step, got, want)
			}
		}
		list := tc.Containers
		check("first", list)
		check("again", list)
		changed := append([]Container(nil), list...)
		changed[0].Labels = maps.Clone(changed[0].Labels)
		if changed[0].Labels == nil {
			changed[0].Labels = map[string]string{}
		}
		changed[0].Labels["wharf.http.routers.memo.rule"] = "Host(`memo.test`)"
		check("one label added", changed)
		changed[0].State = "exited"
		check("one stopped", changed)
		check("one removed", list[1:])
		check("back", list)
	}
}

func TestSameContainerSeesEveryField(t *testing.T) {
	base := memoContainer("a")
	base.PublishedPorts = []PublishedPort{{ContainerPort: "80/tcp", HostPort: "8080"}}
	typ := reflect.TypeFor[Container]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		c := *copyContainer(&base)
		v := reflect.ValueOf(&c).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Map, reflect.Slice:
			v.Set(reflect.Zero(f.Type))
		default:
			t.Fatalf("field %s: kind %s not handled by this test", f.Name, f.Type.Kind())
		}
		if sameContainer(&base, &c) {
			t.Errorf("sameContainer does not see a change of %s", f.Name)
		}
		if !sameContainer(&c, copyContainer(&c)) {
			t.Errorf("copyContainer does not copy %s", f.Name)
		}
	}
}
