package router

import (
	"net/url"
	"strings"
	"testing"
)

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
		{"/a;b/c", "/a;b/c"},
		{"/a/.well-known;x/c", "/a/.well-known;x/c"},
		{"/public/%252e%252e/admin", "/public/%252e%252e/admin"},
	} {
		got, err := NormalizePath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%00", "/a%", "/a%g0", "a/b",
		"/public/..;/admin", "/public/..;x=1/admin", "/.;/admin", "/public/%2e%2e;/admin", "/public/..%3b/admin",
		"/public\\..\\admin", "/a b", "/a\x00", "/\xc3\xa9"} {
		if got, err := NormalizePath(bad); err == nil {
			t.Errorf("NormalizePath(%q) = %q; want an error", bad, got)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/x", "//a//b/", "/a/%41/./", "/a%20b/..",
		"/public/..;/admin", "/a/%2E%2e%2f", "/%252e%252e/", "/a\\b/../c"} {
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
		// What is routed is what is forwarded: the URL the forwarder writes carries
		// exactly the canonical path, and its decoded form has no segment a backend
		// would resolve differently.
		u := &url.URL{}
		setPath(u, once)
		if got := u.EscapedPath(); got != once {
			t.Fatalf("%q -> %q is forwarded as %q", p, once, got)
		}
		for _, seg := range strings.Split(u.Path, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("%q -> %q decodes to %q, with a dot segment", p, once, u.Path)
			}
		}
		if strings.Contains(u.Path, "//") || strings.ContainsAny(u.Path, "\\\x00") {
			t.Fatalf("%q -> %q decodes to %q", p, once, u.Path)
		}
	})
}

func TestNormalizePathFastPathDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = NormalizePath("/api/v1/users") }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}
