package confnode

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// MaxSize is the largest configuration file wharf reads. Real dynamic configurations are a
// few kilobytes; the cap keeps a mistaken or hostile file (a log, a disk image) from being
// read into memory and parsed.
const MaxSize = 4 << 20

func checkSize(n int, file string) error {
	if n > MaxSize {
		return &dynamic.Error{Source: dynamic.Source{File: file}, Msg: fmt.Sprintf("file is larger than %d MiB; configuration files are capped at that size", MaxSize>>20)}
	}
	return nil
}

// Supported reports whether File can read a file with this name, judging by its extension
// (.yml, .yaml or .toml, in any case).
func Supported(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yml", ".yaml", ".toml":
		return true
	}
	return false
}

// File reads and parses a YAML (.yml, .yaml) or TOML (.toml) file; the extension decides.
// Errors name the file as path was given. A file that cannot be read is returned as the
// operating system's error (so errors.Is(err, fs.ErrNotExist) tells a deleted file apart);
// a file that does not parse, is too large or is not a regular file is a *dynamic.Error.
func File(path string) (*dynamic.Node, error) {
	if !Supported(path) {
		return nil, &dynamic.Error{Source: dynamic.Source{File: path}, Msg: "unsupported file type: use .yml, .yaml or .toml"}
	}
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse parses data as the format file's extension names (see File).
func Parse(data []byte, file string) (*dynamic.Node, error) {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yml", ".yaml":
		return YAML(data, file)
	case ".toml":
		return TOML(data, file)
	}
	return nil, &dynamic.Error{Source: dynamic.Source{File: file}, Msg: "unsupported file type: use .yml, .yaml or .toml"}
}

// readCapped reads at most MaxSize+1 bytes, so a file over the cap is refused without
// reading all of it, and refuses what is not a regular file: a FIFO named dynamic.yml
// would otherwise block the reader forever.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &dynamic.Error{Source: dynamic.Source{File: path}, Msg: "not a regular file"}
	}
	if err := checkSize(int(min(fi.Size(), MaxSize+1)), path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	// The file may have grown between Stat and Read.
	if err := checkSize(len(data), path); err != nil {
		return nil, err
	}
	return data, nil
}
