package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/provider"
)

// fakeWorld is the engine's state as the fake engines see it; a test changes it between
// events, like containers starting and stopping.
type fakeWorld struct {
	mu         sync.Mutex
	containers []Container
	listErr    error // the next list fails with it, once
	lists      atomic.Int32
}

func (w *fakeWorld) set(cs ...Container) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.containers = cs
}

func (w *fakeWorld) failNextList(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.listErr = err
}

// fakeEngine is one session with the fake world: its event stream is fed by the test.
type fakeEngine struct {
	world  *fakeWorld
	events chan Event
	errs   chan error
	closed atomic.Bool
}

func (e *fakeEngine) Containers(ctx context.Context, want func(*Container) bool, _ []string) ([]Container, *Container, error) {
	e.world.lists.Add(1)
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	if err := e.world.listErr; err != nil {
		e.world.listErr = nil
		return nil, nil, err
	}
	var out []Container
	for _, c := range e.world.containers {
		if want(&c) {
			out = append(out, c)
		}
	}
	return out, nil, nil
}

func (e *fakeEngine) Events(context.Context) (<-chan Event, <-chan error) { return e.events, e.errs }
func (e *fakeEngine) Close() error                                        { e.closed.Store(true); return nil }

// fakeDialer hands out sessions; while down, dialling fails.
type fakeDialer struct {
	world    *fakeWorld
	mu       sync.Mutex
	down     bool
	dials    atomic.Int32
	sessions chan *fakeEngine // every session dialled, for the test to drive
}

func newFakeDialer(w *fakeWorld) *fakeDialer {
	return &fakeDialer{world: w, sessions: make(chan *fakeEngine, 100)}
}

func (d *fakeDialer) setDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

func (d *fakeDialer) dial(context.Context) (engine, error) {
	d.dials.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, errors.New("connection refused")
	}
	e := &fakeEngine{world: d.world, events: make(chan Event), errs: make(chan error, 1)}
	d.sessions <- e
	return e, nil
}

func testProvider(t *testing.T, cfg Config, d *fakeDialer) *Provider {
	t.Helper()
	p, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	p.dial = d.dial
	p.backoffMin, p.backoffMax = time.Millisecond, 20*time.Millisecond
	return p
}

// run starts Provide and returns its messages; it stops (and checks Provide returned nil)
// when the test ends.
func run(t *testing.T, p *Provider) <-chan provider.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan provider.Message, 100)
	done := make(chan error, 1)
	go func() { done <- p.Provide(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Provide returned %v; want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Provide did not return after cancel")
		}
	})
	return out
}

// next waits for a message that satisfies ok, failing at the deadline.
func next(t *testing.T, out <-chan provider.Message, within time.Duration, ok func(provider.Message) bool) provider.Message {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-out:
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no matching message within %v", within)
		}
	}
}

func hasRouter(name string) func(provider.Message) bool {
	return func(m provider.Message) bool { return m.Config != nil && m.Config.HTTP.Routers[name] != nil }
}

func web(name, ip string) Container {
	return Container{ID: fmt.Sprintf("%064x", len(name)*7919+int(ip[len(ip)-1])), Name: name, State: "running",
		Labels: map[string]string{"wharf.enable": "true"}, ExposedPorts: []string{"80/tcp"},
		Networks: map[string]Network{"bridge": {IP: ip}}}
}

func TestProvideBurstCausesFewRelists(t *testing.T) {
	w := &fakeWorld{}
	w.set(web("a", "10.0.0.1"))
	d := newFakeDialer(w)
	p := testProvider(t, Config{Debounce: 30 * time.Millisecond, ResyncInterval: time.Hour}, d)
	out := run(t, p)
	next(t, out, 2*time.Second, hasRouter("a"))
	sess := <-d.sessions
	w.set(web("a", "10.0.0.1"), web("b", "10.0.0.2"))
	for i := 0; i < 1000; i++ {
		sess.events <- Event{Type: "container", Action: "start", ID: fmt.Sprint(i)}
	}
	next(t, out, 2*time.Second, hasRouter("b"))
	// 1,000 events that arrive faster than the debounce: one relist for the initial list,
	// then one per maxWait of event flood at most.
	if n := w.lists.Load(); n > 6 {
		t.Fatalf("%d relists for a burst of 1000 events; want a handful", n)
	}
}

func TestProvideIgnoresIrrelevantEventsAndUnchangedLists(t *testing.T) {
	w := &fakeWorld{}
	w.set(web("a", "10.0.0.1"))
	d := newFakeDialer(w)
	p := testProvider(t, Config{Debounce: 5 * time.Millisecond, ResyncInterval: time.Hour}, d)
	out := run(t, p)
	next(t, out, 2*time.Second, hasRouter("a"))
	sess := <-d.sessions
	sess.events <- Event{Type: "container", Action: "exec_start: sh"}
	sess.events <- Event{Type: "image", Action: "pull"}
	sess.events <- Event{Type: "container", Action: "start"} // relists, but nothing changed
	w.set(web("a", "10.0.0.1"), web("c", "10.0.0.3"))
	sess.events <- Event{Type: "container", Action: "health_status: healthy"}
	m := next(t, out, 2*time.Second, func(provider.Message) bool { return true })
	if m.Config.HTTP.Routers["c"] == nil {
		t.Fatalf("the first message after the initial one should carry c (unchanged lists are not sent); routers: %v", sortedKeys(m.Config.HTTP.Routers))
	}
}

func TestProvideResyncHealsMissedEvents(t *testing.T) {
	w := &fakeWorld{}
	d := newFakeDialer(w)
	p := testProvider(t, Config{ResyncInterval: 20 * time.Millisecond}, d)
	out := run(t, p)
	next(t, out, 2*time.Second, func(provider.Message) bool { return true })
	w.set(web("quiet", "10.0.0.9")) // no event at all
	next(t, out, 2*time.Second, hasRouter("quiet"))
}

func TestProvideReconnectsAndKeepsLastRoutes(t *testing.T) {
	w := &fakeWorld{}
	w.set(web("a", "10.0.0.1"))
	d := newFakeDialer(w)
	p := testProvider(t, Config{Debounce: 5 * time.Millisecond, ResyncInterval: time.Hour}, d)
	out := run(t, p)
	next(t, out, 2*time.Second, hasRouter("a"))
	if !p.Connected() {
		t.Fatal("not connected after the first snapshot")
	}
	sess := <-d.sessions
	d.setDown(true)
	sess.errs <- errors.New("unexpected EOF") // the engine went away
	waitFor(t, "disconnected and redialling", func() bool { return !p.Connected() && d.dials.Load() >= 3 })
	w.set(web("b", "10.0.0.2")) // changed during the outage
	d.setDown(false)
	m := next(t, out, 2*time.Second, func(provider.Message) bool { return true })
	if m.Config.HTTP.Routers["b"] == nil || m.Config.HTTP.Routers["a"] != nil || len(m.Errors) > 0 {
		t.Fatalf("after reconnect: routers %v, errors %v; want only b (no message may be sent during the outage)", sortedKeys(m.Config.HTTP.Routers), m.Errors)
	}
	waitFor(t, "connected", p.Connected)
	if got := p.Reconnects(); got != 1 {
		t.Fatalf("Reconnects() = %d; want 1", got)
	}
	if !sess.closed.Load() {
		t.Fatal("the lost session's engine was not closed")
	}
}

func TestProvideListFailureIsALostStream(t *testing.T) {
	w := &fakeWorld{}
	w.set(web("a", "10.0.0.1"))
	d := newFakeDialer(w)
	p := testProvider(t, Config{Debounce: 5 * time.Millisecond, ResyncInterval: time.Hour}, d)
	out := run(t, p)
	next(t, out, 2*time.Second, hasRouter("a"))
	sess := <-d.sessions
	w.failNextList(errors.New("engine hiccup"))
	sess.events <- Event{Type: "container", Action: "die"}
	// The failed list must end the session and lead to a fresh dial and relist.
	sess2 := <-d.sessions
	if !sess.closed.Load() {
		t.Fatal("the failed session was not closed")
	}
	w.set(web("a", "10.0.0.1"), web("b", "10.0.0.2"))
	sess2.events <- Event{Type: "container", Action: "start"}
	m := next(t, out, 2*time.Second, func(provider.Message) bool { return true })
	if m.Config.HTTP.Routers["b"] == nil {
		t.Fatalf("routers %v; want b", sortedKeys(m.Config.HTTP.Routers))
	}
}

func TestProvideReportsUnreachableEngineAtStart(t *testing.T) {
	w := &fakeWorld{}
	d := newFakeDialer(w)
	d.setDown(true)
	p := testProvider(t, Config{}, d)
	out := run(t, p)
	m := next(t, out, 2*time.Second, func(provider.Message) bool { return true })
	if m.Provider != "docker" || len(m.Errors) != 1 || m.Config == nil || len(m.Config.HTTP.Routers) != 0 {
		t.Fatalf("first message = %+v; want an empty config and the connection error", m)
	}
	waitFor(t, "retries", func() bool { return d.dials.Load() >= 3 })
	select {
	case m := <-out:
		t.Fatalf("the error was sent again: %+v", m)
	default:
	}
	w.set(web("a", "10.0.0.1"))
	d.setDown(false)
	next(t, out, 2*time.Second, hasRouter("a"))
}

func TestBackoffIsCappedExponential(t *testing.T) {
	p := &Provider{backoffMin: 100 * time.Millisecond, backoffMax: time.Second}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			got := p.backoff(n)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("backoff(%d) = %v; want %v ± 20%%", n, got, want)
			}
		}
	}
	if got := p.backoff(1 << 20); got > 1200*time.Millisecond {
		t.Fatalf("backoff after many failures = %v; want capped", got)
	}
}

// waitFor polls cond until it holds, failing after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
