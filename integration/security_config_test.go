package integration

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/internal/confnode"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// FuzzFileConfig feeds arbitrary YAML and TOML to what the file provider runs on a file
// (confnode.Parse, then dynamic.Decode into the model). Config files are untrusted input:
// no panic; every problem names its file and, once parsed, its key; and the result does not
// depend on map iteration order (two decodes of the same text agree, errors in the same
// order). Its seed corpus is testdata/security/fuzz-file, and runs as a regular test.
func FuzzFileConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "security", "fuzz-file", "*"))
	if len(seeds) == 0 {
		f.Fatal("no seed corpus in testdata/security/fuzz-file")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(p, ".toml"))
	}
	f.Fuzz(func(t *testing.T, data []byte, toml bool) {
		name := "fuzz.yml"
		if toml {
			name = "fuzz.toml"
		}
		cfg1, errs1, perr := decodeFile(data, name)
		if perr != nil {
			var de *dynamic.Error
			if !errors.As(perr, &de) || de.Source.File != name {
				t.Fatalf("parse error %q (%T) does not name the file", perr, perr)
			}
			return
		}
		for _, e := range errs1 {
			if e.Source.File != name || (e.Path == "" && e.Source.Line == 0) {
				t.Fatalf("decode error %q names neither its key nor its line (%#v)", e.Error(), e)
			}
		}
		cfg2, errs2, _ := decodeFile(data, name)
		if a, b := errorTexts(errs1), errorTexts(errs2); !reflect.DeepEqual(a, b) {
			t.Fatalf("two decodes disagree on the errors:\n%q\n%q", a, b)
		}
		if !reflect.DeepEqual(cfg1, cfg2) {
			t.Fatalf("two decodes disagree on the configuration")
		}
	})
}

func decodeFile(data []byte, name string) (*dynamic.Configuration, dynamic.Errors, error) {
	node, err := confnode.Parse(data, name)
	if err != nil {
		return nil, nil, err
	}
	cfg := dynamic.NewConfiguration()
	return cfg, dynamic.Decode(node, cfg), nil
}

func errorTexts(es dynamic.Errors) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}
