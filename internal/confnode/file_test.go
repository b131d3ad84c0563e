package confnode

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("yaml_by_extension", func(t *testing.T) {
		for _, name := range []string{"a.yml", "a.yaml", "A.YML"} {
			p := write(name, "x:\n  y: 1\n")
			n, err := File(p)
			if err != nil {
				t.Fatal(err)
			}
			checkPositions(t, n, []posCase{{"x.y", "1", "2:3"}})
			if got := at(t, n, "x.y").Src.File; got != p {
				t.Errorf("file = %q; want %q", got, p)
			}
		}
	})
	t.Run("toml_by_extension", func(t *testing.T) {
		n, err := File(write("a.toml", "[x]\ny = 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		checkPositions(t, n, []posCase{{"x.y", "1", "2:1"}})
	})
	t.Run("other_extension_is_an_error_naming_the_file", func(t *testing.T) {
		p := write("a.json", "{}")
		_, err := File(p)
		if err == nil || !strings.HasPrefix(err.Error(), p+": unsupported file type") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing_file_is_not_exist", func(t *testing.T) {
		_, err := File(filepath.Join(dir, "gone.yml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("too_large_is_refused_naming_the_file", func(t *testing.T) {
		p := write("big.yml", "a: "+strings.Repeat("x", MaxSize)+"\n")
		_, err := File(p)
		var de *dynamic.Error
		if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), p+": file is larger than 4 MiB") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("exactly_the_cap_is_read", func(t *testing.T) {
		p := write("cap.toml", "a = '"+strings.Repeat("x", MaxSize-7)+"'\n")
		if _, err := File(p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("directory_is_not_a_regular_file", func(t *testing.T) {
		p := filepath.Join(dir, "d.yml")
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := File(p)
		if err == nil || !strings.HasPrefix(err.Error(), p+": not a regular file") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("syntax_error_names_the_path_as_given", func(t *testing.T) {
		p := write("bad.toml", "a = \n")
		_, err := File(p)
		if err == nil || !strings.HasPrefix(err.Error(), p+":1:5: invalid TOML") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSupported(t *testing.T) {
	for name, want := range map[string]bool{
		"a.yml": true, "a.yaml": true, "a.toml": true, "a.TOML": true,
		"a.json": false, "a.yml~": false, "a.yml.swp": false, "yml": false,
	} {
		if got := Supported(name); got != want {
			t.Errorf("Supported(%q) = %v; want %v", name, got, want)
		}
	}
}
