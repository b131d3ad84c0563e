package file

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/provider"
)

const waitFor = 10 * time.Second

// watcher runs Provide in the background; stop cancels it and checks that it returned nil.
type watcher struct {
	t    *testing.T
	p    *Provider
	out  chan provider.Message
	done chan error
	stop context.CancelFunc
	once sync.Once
}

func startWatch(t *testing.T, cfg Config) *watcher {
	t.Helper()
	if cfg.Debounce == 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: t, p: newProvider(t, cfg), out: make(chan provider.Message), done: make(chan error, 1), stop: cancel}
	go func() { w.done <- w.p.Provide(ctx, w.out) }()
	t.Cleanup(w.close)
	return w
}

func (w *watcher) close() {
	w.once.Do(func() {
		w.stop()
		select {
		case err := <-w.done:
			if err != nil {
				w.t.Errorf("Provide returned %v; want nil", err)
			}
		case <-time.After(waitFor):
			w.t.Error("Provide did not return after cancel")
		}
	})
}

// next returns the first snapshot that satisfies ok, skipping others (a save may be seen
// half-done), and fails when none comes in time.
func (w *watcher) next(what string, ok func(provider.Message) bool) provider.Message {
	w.t.Helper()
	deadline := time.After(waitFor)
	var last provider.Message
	for {
		select {
		case m := <-w.out:
			if ok(m) {
				return m
			}
			last = m
		case <-deadline:
			w.t.Fatalf("no snapshot with %s; last: routers %q, errors %q", what, routerNames(last), errorStrings(last))
		}
	}
}

func routersAre(names string) func(provider.Message) bool {
	return func(m provider.Message) bool { return routerNames(m) == names }
}

func hasError(substr string) func(provider.Message) bool {
	return func(m provider.Message) bool {
		return strings.Contains(strings.Join(errorStrings(m), "\n"), substr)
	}
}

// writeAtomic saves like an editor does: a temporary file renamed over the original.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func router(name string) string { return "http:\n  routers:\n    " + name + ": {rule: x}\n" }

func TestProvideFollowsAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	writeFile(t, path, router("a"))
	w := startWatch(t, Config{Filename: path})
	w.next("the first snapshot", routersAre("a"))

	writeFile(t, path, router("b"))
	w.next("an edit picked up", routersAre("b"))

	writeFile(t, path, "http:\n  routers:\n    c: {rule: x\n")
	m := w.next("a syntax error", hasError(path+":3: invalid YAML"))
	if routerNames(m) != "b" {
		t.Errorf("after a syntax error routers = %q; want the last good b", routerNames(m))
	}
	if !strings.Contains(m.Errors[0].Error(), "the last good version of this file is still served") {
		t.Errorf("error = %v", m.Errors[0])
	}

	writeFile(t, path, router("c"))
	m = w.next("the fix", routersAre("c"))
	if len(m.Errors) != 0 {
		t.Errorf("errors after the fix: %v", m.Errors)
	}

	writeAtomic(t, path, router("d"))
	w.next("a rename over the file", routersAre("d"))

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	m = w.next("the removal", routersAre(""))
	if len(m.Errors) != 1 || !m.Errors[0].Warning || !strings.Contains(m.Errors[0].Error(), "file was removed") {
		t.Errorf("errors after removal = %v; want one warning", m.Errors)
	}

	writeAtomic(t, path, router("e"))
	w.next("the file recreated", routersAre("e"))
}

func TestProvideFollowsADirectory(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.toml")
	writeFile(t, a, router("a")+"    shared: {rule: one}\n")
	w := startWatch(t, Config{Directory: dir})
	w.next("the first snapshot", routersAre("a,shared"))

	writeAtomic(t, b, "[http.routers.b]\nrule = \"y\"\n")
	w.next("a new file", routersAre("a,b,shared"))

	writeAtomic(t, b, "[http.routers.b]\nrule = \"y\"\n[http.routers.shared]\nrule = \"two\"\n")
	m := w.next("a conflict", routersAre("a,b"))
	want := b + ":3:15: http.routers.shared: defined differently in " + a + ":4:5 and " + b + ":3:15; both definitions are left out"
	if got := errorStrings(m); len(got) != 1 || got[0] != want {
		t.Errorf("errors = %q; want %q", got, want)
	}

	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	m = w.next("the removal", routersAre("b,shared"))
	if got := errorStrings(m); len(got) != 1 || got[0] != "warning: "+a+": file was removed; what it defined is withdrawn" {
		t.Errorf("errors = %q", got)
	}

	// Files that are not configuration do not cause snapshots; the next one seen is the
	// one caused by the real change.
	writeFile(t, filepath.Join(dir, "notes.txt"), "x")
	writeFile(t, filepath.Join(dir, ".hidden.yml"), router("hidden"))
	writeAtomic(t, b, "[http.routers.c]\nrule = \"z\"\n")
	select {
	case m := <-w.out:
		if routerNames(m) != "c" {
			t.Errorf("routers = %q; want c", routerNames(m))
		}
	case <-time.After(waitFor):
		t.Fatal("no snapshot after a change")
	}
}

func TestProvideSkipsUnchangedSnapshots(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	writeAtomic(t, path, router("a"))
	w := startWatch(t, Config{Filename: path})
	w.next("the first snapshot", routersAre("a"))
	for range 3 {
		writeAtomic(t, path, router("a")) // saved again, unchanged
	}
	writeAtomic(t, path, router("b"))
	select {
	case m := <-w.out:
		if routerNames(m) != "b" {
			t.Errorf("next snapshot has routers %q; want b (unchanged saves must not be sent)", routerNames(m))
		}
	case <-time.After(waitFor):
		t.Fatal("no snapshot after a change")
	}
}

func TestProvideCoalescesABurst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	writeFile(t, path, router("a"))
	// A long debounce, so the burst below surely falls within one period.
	w := startWatch(t, Config{Filename: path, Debounce: 300 * time.Millisecond})
	w.next("the first snapshot", routersAre("a"))
	before := w.p.reloads.Load()
	for _, name := range []string{"b", "c", "d", "e"} {
		writeFile(t, path, router(name))
	}
	w.next("the last write", routersAre("e"))
	if got := w.p.reloads.Load() - before; got != 1 {
		t.Errorf("%d reloads for one burst; want 1", got)
	}
}

func TestProvideWithoutWatchSendsOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	writeFile(t, path, router("a"))
	off := false
	w := startWatch(t, Config{Filename: path, Watch: &off})
	w.next("the only snapshot", routersAre("a"))
	writeFile(t, path, router("b"))
	w.close() // returns nil on cancel, without sending again
	select {
	case m := <-w.out:
		t.Errorf("unexpected snapshot %q", routerNames(m))
	default:
	}
}

func TestProvideFailsWhenTheDirectoryIsMissing(t *testing.T) {
	p := newProvider(t, Config{Directory: filepath.Join(t.TempDir(), "missing")})
	err := p.Provide(context.Background(), make(chan provider.Message, 1))
	if err == nil || !strings.Contains(err.Error(), "watch") {
		t.Fatalf("err = %v; want a watch error", err)
	}
}

// Provide returns when cancelled, even with nobody reading, and leaves no goroutine behind
// (fsnotify's reader exits when the watcher is closed).
func TestProvideReturnsOnCancelWithoutLeaks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dynamic.yml")
	writeFile(t, path, router("a"))
	before := runtime.NumGoroutine()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		p := newProvider(t, Config{Filename: path})
		done := make(chan error, 1)
		go func() { done <- p.Provide(ctx, make(chan provider.Message)) }() // never read
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitFor):
			t.Fatal("Provide did not return")
		}
	}
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestDebouncer(t *testing.T) {
	d := debouncer{wait: time.Second, maxWait: 3 * time.Second}
	defer d.stop()
	if d.C() != nil {
		t.Fatal("an idle debouncer must never fire")
	}
	t0 := time.Now()
	steps := []struct {
		at   time.Duration // since the first event
		want time.Duration // delay armed
	}{
		{0, time.Second},                                  // first event: wait a period
		{500 * time.Millisecond, time.Second},             // another: wait a period from it
		{2500 * time.Millisecond, 500 * time.Millisecond}, // but not past the max wait
		{4 * time.Second, 0},                              // overdue: now
	}
	for _, s := range steps {
		if got := d.poke(t0.Add(s.at)); got != s.want {
			t.Errorf("poke at +%v armed %v; want %v", s.at, got, s.want)
		}
	}
	d.fired()
	if got := d.poke(t0.Add(5 * time.Second)); got != time.Second {
		t.Errorf("after firing, a new burst armed %v; want a full period", got)
	}
}
