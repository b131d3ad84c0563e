package confnode

import (
	"errors"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// The fuzz targets check that no input makes the parsers or the decoder panic, and that
// every refusal is a *dynamic.Error that can be shown with its file. The seed corpora in
// testdata/fuzz run as ordinary tests.

func FuzzYAML(f *testing.F) {
	f.Add([]byte(yamlDoc))
	f.Add([]byte("base: &b {rule: a}\nr:\n  <<: [*b, {x: 1}]\n  rule: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := YAML(data, "fuzz.yml")
		checkParsed(t, n, err)
	})
}

func FuzzTOML(f *testing.F) {
	f.Add([]byte(tomlDoc))
	f.Add([]byte("a.b = 1\n[[c]]\nd = {e = [1, 2.5, 1979-05-27T07:32:00Z]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := TOML(data, "fuzz.toml")
		checkParsed(t, n, err)
	})
}

func checkParsed(t *testing.T, n *dynamic.Node, err error) {
	if err != nil {
		var de *dynamic.Error
		if !errors.As(err, &de) || de.Source.File == "" {
			t.Fatalf("error %q (%T) does not name the file", err, err)
		}
		return
	}
	if n == nil {
		t.Fatal("no node and no error")
	}
	// Whatever parses must also go through the decoder without a panic.
	var cfg dynamic.Configuration
	_ = dynamic.Decode(n, &cfg)
}
