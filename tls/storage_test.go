package tls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// As root, chmod 0500 does not make a directory unwritable (root bypasses permission
// bits), and chattr +i needs a filesystem and tool that may be missing. A storage path
// whose parent is a regular file fails for every user on every filesystem: the directory
// cannot be created (ENOTDIR), and a path that is itself a file cannot hold one.
func TestUnwritableStorageStopsStartup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	writeFile(t, file, []byte("x"))
	for name, dir := range map[string]string{
		"parent is a file": filepath.Join(file, "certs"),
		"path is a file":   file,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Resolvers: []ResolverConfig{{Name: "le", Storage: dir, Challenge: ChallengeHTTP}}})
			if err == nil {
				t.Fatal("New succeeded with unusable storage")
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), `resolver "le"`) {
				t.Fatalf("error %q does not name the path %s and the resolver", err, dir)
			}
		})
	}
}

func TestStorageProbeLeavesNothingBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := probeStorage(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("storage directory: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("probe left %v behind", entries)
	}
}
