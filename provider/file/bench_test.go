package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// reloadFile is the dynamic file of integration/bench's reload scenario: n routers, each
// with its own service, and the probe router whose rule is the one change.
func reloadFile(n, gen int) string {
	var s strings.Builder
	s.WriteString("http:\n  routers:\n")
	fmt.Fprintf(&s, "    probe:\n      rule: Host(`probe-%d.test`)\n      service: s0\n", gen)
	for i := range n {
		fmt.Fprintf(&s, "    r%d:\n      rule: Host(`r%d.test`)\n      service: s%d\n", i, i, i)
	}
	s.WriteString("  services:\n")
	for i := range n {
		fmt.Fprintf(&s, "    s%d:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n", i)
	}
	s.WriteString("tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n")
	return s.String()
}

// BenchmarkLoad is the file provider's half of a reload: read, parse and decode a file of
// 1,000 or 10,000 routers in which one rule changed, and compare it with the last snapshot.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routers=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "dynamic.yml")
			docs := []string{reloadFile(n, 0), reloadFile(n, 1)}
			p, err := New(Config{Filename: path}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(docs[0]), 0o600); err != nil {
				b.Fatal(err)
			}
			last := p.Load()
			gen := 0
			b.ReportAllocs()
			for b.Loop() {
				gen++
				b.StopTimer()
				if err := os.WriteFile(path, []byte(docs[gen%2]), 0o600); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				m := p.Load()
				if len(m.Errors) > 0 || sameMessage(m, last) {
					b.Fatalf("errors %v, or no change", m.Errors)
				}
				last = m
			}
		})
	}
}
