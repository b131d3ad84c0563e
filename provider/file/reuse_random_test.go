package file

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// An error inside a changed object whose path also names a longer, unchanged object
// ("a" gets an unknown key "b", and a router "a.b" exists): dropBroken must choose among
// all objects, kept ones included, as a fresh load does.
func TestDottedNameDropMatchesFreshLoad(t *testing.T) {
	// "a.b" comes first, so that the change to "a" does not move it.
	const v1 = "http:\n  routers:\n    a.b:\n      rule: Host(`ab.test`)\n      service: s\n" +
		"    a:\n      rule: Host(`a.test`)\n      service: s\n"
	const v2 = v1 + "      b: 1\n"
	path := filepath.Join(t.TempDir(), "dynamic.yml")
	p := newProvider(t, Config{Filename: path})
	for i, v := range []string{v1, v2} {
		writeFile(t, path, v)
		got := p.Load()
		want := newProvider(t, Config{Filename: path}).Load()
		t.Logf("v%d got %v %v want %v %v", i, routerNames(got), errorStrings(got), routerNames(want), errorStrings(want))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("version %d: reload gives %v %v; fresh load gives %v %v", i, routerNames(got), errorStrings(got), routerNames(want), errorStrings(want))
		}
	}
}

// genVersion writes a random version of a file: routers with dotted names, services,
// middlewares, TLS options, with occasional errors, warnings-free mistakes, case twins.
func genVersion(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(4) == 0 {
		b.WriteString("\n") // shift everything a line
	}
	b.WriteString("http:\n  routers:\n")
	names := []string{"a", "a.b", "a.b.c", "web", "Web", "x"}
	for _, n := range names {
		if r.IntN(2) == 0 {
			continue
		}
		if n == "Web" && r.IntN(2) == 0 {
			continue
		}
		fmt.Fprintf(&b, "    %s:\n      rule: Host(`%s%d.test`)\n      service: s%d\n", n, strings.ToLower(n), r.IntN(2), r.IntN(2))
		switch r.IntN(8) {
		case 0:
			b.WriteString("      b: 1\n")
		case 1:
			b.WriteString("      priority: high\n")
		case 2:
			b.WriteString("      b.c: 1\n")
		case 3:
			b.WriteString("      priority: 5\n")
		}
	}
	b.WriteString("  services:\n")
	for i := 0; i < 2; i++ {
		if r.IntN(3) == 0 {
			continue
		}
		fmt.Fprintf(&b, "    s%d:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.%d\n", i, r.IntN(2)+1)
		if r.IntN(6) == 0 {
			b.WriteString("        bogus: 1\n")
		}
	}
	if r.IntN(2) == 0 {
		fmt.Fprintf(&b, "  middlewares:\n    m:\n      stripPrefix:\n        prefixes: [/p%d]\n", r.IntN(2))
		if r.IntN(5) == 0 {
			b.WriteString("      addPrefix:\n        prefix: /x\n")
		}
	}
	if r.IntN(2) == 0 {
		fmt.Fprintf(&b, "tls:\n  options:\n    o:\n      minVersion: VersionTLS1%d\n", 2+r.IntN(2))
	}
	switch r.IntN(12) {
	case 0:
		return "http: [\n" // does not parse
	case 1:
		return ""
	}
	return b.String()
}

// TestRandomReloadsEqualFreshLoad compares a provider that keeps unchanged objects with one that
// decodes everything (its remembered index is wiped after each load) over the same history.
func TestRandomReloadsEqualFreshLoad(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		p := newProvider(t, Config{Directory: dir})
		full := newProvider(t, Config{Directory: dir})
		for step := 0; step < 12; step++ {
			for _, f := range []string{"a.yml", "b.yml"} {
				path := filepath.Join(dir, f)
				switch r.IntN(5) {
				case 0:
					os.Remove(path)
				case 1, 2:
					writeFile(t, path, genVersion(r))
				}
			}
			got := p.Load()
			want := full.Load()
			for _, st := range full.files {
				st.index = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d step %d: reload %v %v\nfull decode %v %v", seed, step, routerNames(got), errorStrings(got), routerNames(want), errorStrings(want))
			}
		}
	}
}
