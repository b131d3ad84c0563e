package middleware

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// retry sends a request again (to the next server of the service's balancer) when the
// backend did not answer: the forwarder produced the 502/503/504 itself, before any byte of
// a response arrived. It never retries a response the backend sent, whatever its status.
//
// How it knows, without a hook in the forwarder: each attempt carries an httptrace.ClientTrace
// in its context, and the transport reports there whether a connection was obtained, whether
// the request's headers were written, and whether a response byte came back. So:
//
//   - a request whose headers were never written never reached the backend, and is retried
//     whatever its method (connection refused, DNS failure, TLS handshake failure);
//   - a request that was sent is retried only when its method is idempotent (GET, PUT,
//     DELETE, ..., or with an Idempotency-Key header), because the backend may have acted on it.
//
// The body must be replayable: an idempotent request's body of up to maxRetryBody bytes is
// held in memory for that; a larger or unknown-length body is passed through once and the
// request is retried only if not a byte of it was read.
//
// Between attempts it waits initialInterval, then twice that for every later attempt (the
// longest wait is twice initialInterval, as in Traefik). attempts counts every try,
// including the first.
var retryType = Type{Name: "retry", New: newRetry}

type retryOptions struct {
	Attempts        int
	InitialInterval time.Duration
}

const maxRetryBody = 64 << 10

func newRetry(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o retryOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Attempts < 1 {
		return nil, env.Invalid(opts, "attempts", "attempts must be 1 or more: how many times a request is tried in all")
	}
	if o.InitialInterval < 0 {
		return nil, env.Invalid(opts, "initialInterval", "initialInterval must not be negative")
	}
	rt := &retrier{attempts: o.Attempts, interval: o.InitialInterval, log: env.Log}
	return func(next http.Handler) http.Handler {
		if rt.attempts == 1 {
			return next
		}
		return &retryHandler{retrier: rt, next: next}
	}, nil
}

type retrier struct {
	attempts int
	interval time.Duration
	log      zerolog.Logger
}

type retryHandler struct {
	*retrier
	next http.Handler
}

func (h *retryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := newReplayBody(r)
	if err != nil {
		upstream.WriteError(w, http.StatusBadRequest) // the client's body broke off
		return
	}
	for attempt := 1; ; attempt++ {
		tr := &attemptTrace{}
		ar := r.Clone(httptrace.WithClientTrace(r.Context(), tr.clientTrace()))
		if body != nil {
			ar.Body = body.reader()
		}
		aw := &attemptWriter{holdWriter: holdWriter{rw: w, header: make(http.Header)}, trace: tr, body: body,
			last: attempt >= h.attempts, idempotent: idempotent(r), ctx: r.Context()}
		aw.decide = aw
		h.next.ServeHTTP(aw, ar)
		if !aw.withheld {
			return
		}
		noteRetry(w)
		wait := h.interval << min(attempt-1, 1)
		h.log.Debug().Int("attempt", attempt+1).Int("status", aw.status).Dur("wait", wait).Msg("retry: the backend did not answer; trying again")
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
	}
}

// attemptTrace is what the transport reported about one attempt.
type attemptTrace struct {
	wroteHeaders atomic.Bool // the request (its headers at least) reached the network
	gotResponse  atomic.Bool // a byte of a response came back
}

func (t *attemptTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		WroteHeaders:         func() { t.wroteHeaders.Store(true) },
		GotFirstResponseByte: func() { t.gotResponse.Store(true) },
	}
}

// attemptWriter passes an attempt's response on, unless it is the forwarder's own error
// for a request that can be tried again: that one is withheld, and the next attempt answers.
type attemptWriter struct {
	holdWriter
	trace      *attemptTrace
	body       *replayBody
	ctx        context.Context
	last       bool
	idempotent bool
}

// withhold is the holdWriter's decision: a 502, 503 or 504 that the backend never sent
// (no response byte arrived), for a request that can be sent again.
func (w *attemptWriter) withhold(code int) bool {
	if w.last || w.trace.gotResponse.Load() || w.ctx.Err() != nil {
		return false
	}
	if code != http.StatusBadGateway && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
		return false
	}
	if w.body != nil && !w.body.replayable() {
		return false
	}
	return !w.trace.wroteHeaders.Load() || w.idempotent
}

// replayBody lets every attempt read the request body from its start: from memory when it
// was small enough to hold, or from the client as long as no attempt has read any of it.
type replayBody struct {
	data     []byte
	buffered bool
	src      io.Reader
	touched  atomic.Bool
}

func newReplayBody(r *http.Request) (*replayBody, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b := &replayBody{src: r.Body}
	if idempotent(r) && r.ContentLength > 0 && r.ContentLength <= maxRetryBody {
		b.data = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b.data); err != nil {
			return nil, err
		}
		b.buffered = true
	}
	return b, nil
}

func (b *replayBody) replayable() bool { return b.buffered || !b.touched.Load() }

func (b *replayBody) reader() io.ReadCloser {
	if b.buffered {
		return io.NopCloser(bytes.NewReader(b.data))
	}
	return &guardedBody{b: b}
}

// guardedBody notes that the client's body was read, and does not close it: a later attempt
// may still need it, and the server closes it when the request ends.
type guardedBody struct{ b *replayBody }

func (g *guardedBody) Read(p []byte) (int, error) {
	n, err := g.b.src.Read(p)
	if n > 0 {
		g.b.touched.Store(true)
	}
	return n, err
}

func (g *guardedBody) Close() error { return nil }

// noteRetry tells the access log, if one records this request, that it was tried again
// (its retryAttempts field and filter), finding the recorder through Unwrap.
func noteRetry(w http.ResponseWriter) {
	for {
		if n, ok := w.(interface{ NoteRetry() }); ok {
			n.NoteRetry()
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}
