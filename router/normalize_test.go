package router

import "testing"

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"", "/"},
		{"/a/b", "/a/b"},
		{"/public/../admin", "/admin"},
		{"/public/%2e%2e/admin", "/admin"},
		{"/public/%2E%2e/admin/", "/admin/"},
		{"/a/./b", "/a/b"},
		{"/a//b", "/a/b"},
		{"//admin", "/admin"},
		{"/a/b/..", "/a/"},
		{"/..", "/"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"/%41%62c", "/Abc"},
		{"/a%20b", "/a%20b"},
		{"/a%3fb", "/a%3Fb"},
		{"/a%25b", "/a%25b"},
		{"/a.b/.c", "/a.b/.c"},
	} {
		got, err := NormalizePath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%00", "/a%", "/a%g0", "a/b"} {
		if got, err := NormalizePath(bad); err == nil {
			t.Errorf("NormalizePath(%q) = %q; want an error", bad, got)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/x", "//a//b/", "/a/%41/./", "/a%20b/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		once, err := NormalizePath(p)
		if err != nil {
			return
		}
		twice, err := NormalizePath(once)
		if err != nil || twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, once, twice, err)
		}
		if len(once) == 0 || once[0] != '/' {
			t.Fatalf("%q -> %q does not start with /", p, once)
		}
	})
}

func TestNormalizePathFastPathDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = NormalizePath("/api/v1/users") }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}
