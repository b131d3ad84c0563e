package file

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wharfproxy/wharf/provider"
)

// maxWaitFactor bounds how long a stream of events can postpone a reload: a file copied
// slowly, or rewritten in a loop, still reloads every maxWaitFactor debounce periods.
const maxWaitFactor = 10

// Provide sends a snapshot now and, when watching, another after every change that alters
// it. It returns nil when ctx is done, with its watcher closed, and an error only when it
// cannot watch at all (the directory does not exist).
//
// It watches the directory, not the file: editors save by writing a temporary file and
// renaming it over the original, which replaces the inode a file watch would follow.
func (p *Provider) Provide(ctx context.Context, out chan<- provider.Message) error {
	if !p.watching() {
		if send(ctx, out, p.Load()) {
			<-ctx.Done()
		}
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file provider: %w", err)
	}
	defer w.Close()
	// Watch before the first Load, so a change made while loading is not missed.
	if err := w.Add(p.dir); err != nil {
		return fmt.Errorf("file provider: watch %s: %w", p.dir, err)
	}
	return p.watch(ctx, w, out)
}

func (p *Provider) watch(ctx context.Context, w *fsnotify.Watcher, out chan<- provider.Message) error {
	last := p.Load()
	if !send(ctx, out, last) {
		return nil
	}
	deb := debouncer{wait: p.cfg.Debounce, maxWait: maxWaitFactor * p.cfg.Debounce}
	defer deb.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if p.triggers(ev.Name) {
				p.log.Debug().Str(logPath, ev.Name).Str(logEvent, ev.Op.String()).Msg("file changed")
				deb.poke(time.Now())
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow means events were lost: reload rather than trust what we have.
			p.log.Warn().Err(err).Str(logPath, p.dir).Msg("file watcher error; reloading")
			deb.poke(time.Now())
		case <-deb.C():
			deb.fired()
			msg := p.Load()
			if sameMessage(msg, last) {
				continue
			}
			p.log.Debug().Int(logErrors, len(msg.Errors)).Msg("file configuration reloaded")
			if !send(ctx, out, msg) {
				return nil
			}
			last = msg
		}
	}
}

// send delivers msg unless ctx ends first, so a stalled reader cannot keep Provide from
// returning.
func send(ctx context.Context, out chan<- provider.Message, msg provider.Message) bool {
	select {
	case out <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}

// sameMessage reports whether a new snapshot says nothing new. Sources are compared too:
// an error that moved to another line is news.
func sameMessage(a, b provider.Message) bool {
	return reflect.DeepEqual(a.Config, b.Config) && reflect.DeepEqual(a.Errors, b.Errors)
}

// debouncer coalesces a burst of file events into one reload: it fires wait after the last
// event, but no later than maxWait after the first.
type debouncer struct {
	wait, maxWait time.Duration
	timer         *time.Timer
	first         time.Time // of the pending burst; zero when idle
}

// poke records an event at now and returns the delay it armed the timer with.
func (d *debouncer) poke(now time.Time) time.Duration {
	if d.first.IsZero() {
		d.first = now
	}
	delay := max(0, min(d.wait, d.first.Add(d.maxWait).Sub(now)))
	if d.timer == nil {
		d.timer = time.NewTimer(delay)
	} else {
		// Since Go 1.23 Reset discards a pending expiry, so no stale fire can follow.
		d.timer.Reset(delay)
	}
	return delay
}

// C fires when a reload is due; nil (never) while idle.
func (d *debouncer) C() <-chan time.Time {
	if d.timer == nil {
		return nil
	}
	return d.timer.C
}

func (d *debouncer) fired() { d.first = time.Time{} }

func (d *debouncer) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}
