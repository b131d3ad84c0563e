package docker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/wharfproxy/wharf/provider"
)

// Provide follows the engine until ctx is done: a snapshot at once, then one after every
// change. A lost connection is re-dialled forever with capped exponential backoff; nothing
// is sent meanwhile, so the last good routes keep serving, and the first snapshot after the
// reconnection is a full relist.
func (p *Provider) Provide(ctx context.Context, out chan<- provider.Message) error {
	if p.cfg.ReadOnce {
		return p.provideOnce(ctx, out)
	}
	w := &watcher{p: p, out: out}
	failures := 0
	for {
		connected, err := w.session(ctx)
		p.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			failures = 0
		}
		if w.last == nil {
			if err := w.send(ctx, p.startupError(err)); err != nil {
				return nil
			}
		}
		delay := p.backoff(failures)
		failures++
		p.log.Warn().Err(err).Str(logEndpoint, endpoint(p.cfg)).Dur(logRetryIn, delay).
			Msg("Docker engine connection lost; the last routes keep serving")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is the wait before reconnection attempt n (0-based): doubling from backoffMin up
// to backoffMax, with ±20% jitter so several wharf instances do not reconnect in lockstep
// after an engine restart.
func (p *Provider) backoff(n int) time.Duration {
	d := p.backoffMin
	for i := 0; i < n && d < p.backoffMax; i++ {
		d *= 2
	}
	d = min(d, p.backoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// watcher is the state of one Provide call across sessions.
type watcher struct {
	p             *Provider
	out           chan<- provider.Message
	last          *provider.Message // last message sent, to skip identical ones
	everConnected bool
}

// session is one connection: dial, subscribe to events, list, then watch. It returns
// whether the first list succeeded (so backoff can reset) and why the session ended.
// Events are subscribed before the list, so no change falls between the two.
func (w *watcher) session(ctx context.Context) (connected bool, err error) {
	eng, err := w.p.dial(ctx)
	if err != nil {
		return false, err
	}
	defer eng.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := eng.Events(sctx)
	m, err := w.list(ctx, eng)
	if err != nil {
		return false, err
	}
	// Connected before the snapshot goes out, so whoever reacts to it sees the new state.
	w.p.connected.Store(true)
	if w.everConnected {
		w.p.reconnects.Add(1)
		w.p.log.Info().Str(logEndpoint, endpoint(w.p.cfg)).Msg("reconnected to the Docker engine")
	}
	w.everConnected = true
	if err := w.send(ctx, m); err != nil {
		return true, err
	}
	return true, w.watch(ctx, eng, evs, errs)
}

// watch relists after events (debounced) and on the resync tick until the stream or a
// relist fails. A failed relist ends the session like a lost stream: its error is never
// swallowed, and the reconnection relists from scratch.
func (w *watcher) watch(ctx context.Context, eng engine, evs <-chan Event, errs <-chan error) error {
	resync := time.NewTicker(w.p.cfg.ResyncInterval)
	defer resync.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var firstDirty time.Time // zero: clean
	maxWait := maxWaitFactor * w.p.cfg.Debounce
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err, ok := <-errs:
			if !ok || err == nil {
				err = errStreamClosed
			}
			return fmt.Errorf("event stream: %w", err)
		case ev := <-evs:
			if !relevant(ev) {
				continue
			}
			now := time.Now()
			if firstDirty.IsZero() {
				firstDirty = now
			}
			// Re-arm, but never past maxWait after the first unhandled event.
			debounce.Reset(min(w.p.cfg.Debounce, firstDirty.Add(maxWait).Sub(now)))
		case <-debounce.C:
			firstDirty = time.Time{}
			if err := w.rebuild(ctx, eng); err != nil {
				return err
			}
		case <-resync.C:
			if err := w.rebuild(ctx, eng); err != nil {
				return err
			}
		}
	}
}

// rebuild lists, converts and sends.
func (w *watcher) rebuild(ctx context.Context, eng engine) error {
	m, err := w.list(ctx, eng)
	if err != nil {
		return err
	}
	return w.send(ctx, m)
}

// list lists and converts. The list has a deadline: an engine that stops answering is
// treated as lost.
func (w *watcher) list(ctx context.Context, eng engine) (provider.Message, error) {
	lctx, cancel := context.WithTimeout(ctx, w.p.cfg.HTTPClientTimeout)
	defer cancel()
	list, self, err := eng.Containers(lctx, w.p.conv.wanted, w.p.selfIDs)
	if err != nil {
		if ctx.Err() != nil {
			return provider.Message{}, ctx.Err()
		}
		return provider.Message{}, fmt.Errorf("list containers: %w", err)
	}
	ev := w.p.log.Debug().Int(logRebuild, len(list))
	if self != nil {
		ev = ev.Str(logSelf, self.Name)
	}
	ev.Msg("relisted containers")
	return w.p.message(list, self), nil
}

// send delivers a message unless it equals the last one: resyncs and unrelated events then
// cost nothing downstream, and each problem is reported once per change.
func (w *watcher) send(ctx context.Context, m provider.Message) error {
	if w.last != nil && reflect.DeepEqual(*w.last, m) {
		return nil
	}
	select {
	case w.out <- m:
		w.last = &m
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// provideOnce sends one snapshot (retrying with backoff until the engine answers once) and
// then holds it until ctx is done: providers.docker.watch: false.
func (p *Provider) provideOnce(ctx context.Context, out chan<- provider.Message) error {
	for failures := 0; ; failures++ {
		m, err := p.Snapshot(ctx)
		if err == nil {
			select {
			case out <- m:
			case <-ctx.Done():
			}
			<-ctx.Done()
			return nil
		}
		if failures == 0 {
			select {
			case out <- p.startupError(err):
			case <-ctx.Done():
				return nil
			}
		}
		t := time.NewTimer(p.backoff(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
