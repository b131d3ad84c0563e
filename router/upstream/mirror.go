package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// MirrorTarget is one mirror of a mirroring service.
type MirrorTarget struct {
	Name    string
	Handler http.Handler
	Percent int // of requests copied, 0-100
	count   atomic.Uint64
}

// MirroringConfig bounds what mirroring costs.
type MirroringConfig struct {
	MirrorBody  bool  // send the body to the mirrors (else they get the request without it)
	MaxBodySize int64 // a request with a larger body is not mirrored (main still gets it all)
	// MaxInFlight is how many mirror requests may run at once, for the whole service; a
	// copy that would exceed it is dropped, so a slow mirror never holds memory or
	// goroutines without bound. 0: DefaultMirrorInFlight.
	MaxInFlight int
	// Timeout bounds each mirror request; 0: DefaultMirrorTimeout.
	Timeout time.Duration
	Log     zerolog.Logger
}

// Mirroring defaults. A mirror request's body is held in memory, once, for every copy.
const (
	DefaultMirrorMaxBody  = 1 << 20
	DefaultMirrorInFlight = 256
	DefaultMirrorTimeout  = 30 * time.Second
)

// Mirroring sends every request to the main service and a copy of a percentage of them to
// each mirror. The copies run on their own goroutines, with a context that the client's
// cancellation does not end, and their answers are thrown away: the client's response is the
// main service's, unaltered and undelayed (only a body to be mirrored is read before the main
// service gets it).
type Mirroring struct {
	main     http.Handler
	mirrors  []*MirrorTarget
	cfg      MirroringConfig
	slots    chan struct{}
	dropped  atomic.Uint64
	mirrored atomic.Uint64
}

// NewMirroring builds a mirroring service.
func NewMirroring(main http.Handler, mirrors []*MirrorTarget, cfg MirroringConfig) *Mirroring {
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMirrorMaxBody
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMirrorInFlight
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultMirrorTimeout
	}
	return &Mirroring{main: main, mirrors: mirrors, cfg: cfg, slots: make(chan struct{}, cfg.MaxInFlight)}
}

// Healthy is the main service's health: mirrors do not answer clients.
func (m *Mirroring) Healthy() bool { return healthy(m.main) }

// Counts reports how many copies were sent and how many were dropped (body too large, or
// too many copies in flight).
func (m *Mirroring) Counts() (mirrored, dropped uint64) { return m.mirrored.Load(), m.dropped.Load() }

// due reports whether this request is one a mirror copies: exactly Percent of every 100
// consecutive requests, spread out, with no random source.
func (t *MirrorTarget) due() bool {
	if t.Percent <= 0 {
		return false
	}
	n := t.count.Add(1)
	return (n*uint64(t.Percent))/100 != ((n-1)*uint64(t.Percent))/100
}

func (m *Mirroring) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var due [8]*MirrorTarget
	targets := due[:0]
	for _, t := range m.mirrors {
		if t.due() {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 || isUpgrade(r) {
		m.main.ServeHTTP(w, r)
		return
	}
	body, ok := m.readBody(r)
	if !ok {
		m.dropped.Add(uint64(len(targets)))
		m.main.ServeHTTP(w, r)
		return
	}
	for _, t := range targets {
		m.copyTo(t, r, body)
	}
	m.main.ServeHTTP(w, r)
}

// readBody reads a body to be mirrored, and gives the main service a reader over the same
// bytes. It reports false when the body is too large to mirror; the main service then gets the
// part already read followed by the rest.
func (m *Mirroring) readBody(r *http.Request) ([]byte, bool) {
	if !m.cfg.MirrorBody || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	if r.ContentLength > m.cfg.MaxBodySize {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, m.cfg.MaxBodySize+1))
	if err != nil || int64(len(buf)) > m.cfg.MaxBodySize {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return buf, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (m *Mirroring) copyTo(t *MirrorTarget, r *http.Request, body []byte) {
	select {
	case m.slots <- struct{}{}:
	default:
		m.dropped.Add(1)
		return
	}
	// The copy outlives the client's request, and reports to no middleware of it.
	ctx := context.WithValue(context.WithoutCancel(r.Context()), attemptKey{}, (*Attempt)(nil))
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	mr := r.Clone(ctx)
	if body != nil {
		mr.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		mr.Body, mr.ContentLength, mr.TransferEncoding = http.NoBody, 0, nil
	}
	m.mirrored.Add(1)
	go func() {
		defer func() { <-m.slots }()
		defer cancel()
		defer func() {
			// A mirror must never take the process down with it.
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				m.cfg.Log.Error().Interface("panic", v).Str("mirror", t.Name).Msg("mirror request panicked")
			}
		}()
		t.Handler.ServeHTTP(discardWriter{h: make(http.Header)}, mr)
	}()
}

// discardWriter is the response writer of a mirror request: it keeps nothing.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
