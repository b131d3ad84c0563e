package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Transport sends bodiless requests to plain-HTTP backends over HTTP/1.1, doing the whole
// round trip in the caller's goroutine: write the request to a pooled connection, read the
// response head from it, hand back a body that returns the connection to the pool at its end.
//
// http.Transport runs two goroutines per connection (readLoop and writeLoop) and hands every
// request and response between them and the caller over channels. On a proxy's hot path that
// is most of the per-request scheduling cost: about 10 goroutine runs and 9 wake-ups per
// proxied request, against 4 and 3 here (docs/performance.md). Requests with a body, upgrades
// and everything that is not plain http:// keep going through http.Transport, whose
// concurrent write and read a body needs (a backend may answer before it has read it).
//
// What it keeps of http.Transport's behaviour: keep-alive pooling per host (most recently
// used first, at most maxIdle idle per host, closed after idleTimeout), the dial timeout,
// the response-header timeout, cancellation when the request's context ends, 1xx responses
// passed to the request's httptrace hooks, trailers, "Connection: close" either way, and one
// retry of a replayable request (GET, HEAD, OPTIONS, TRACE, or with an Idempotency-Key) that
// met a pooled connection the backend had closed. A pooled connection is also checked for a
// close from the backend (a non-blocking peek) before it is used.
type h1Transport struct {
	dialer        net.Dialer
	maxIdle       int
	idleTimeout   time.Duration
	headerTimeout time.Duration

	// hosts are the idle pools by the URL's host. A sync.Map: every request reads it, and
	// writes (a new backend address, a forgotten one) are rare.
	hosts sync.Map // string -> *h1Host
}

// h1MaxHeaderBytes bounds a response head from a backend, as the server bounds a request's.
const h1MaxHeaderBytes = 1 << 20

// h1Max1xx bounds the informational responses before the final one.
const h1Max1xx = 8

func newH1Transport(cfg TransportConfig) *h1Transport {
	return &h1Transport{
		dialer:        net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		maxIdle:       cfg.MaxIdleConnsPerHost,
		idleTimeout:   cfg.IdleConnTimeout,
		headerTimeout: cfg.ResponseHeaderTimeout,
	}
}

// h1Eligible reports whether req can take the in-goroutine path: plain http, no body (a
// body needs its write to run beside the read), no protocol upgrade.
func h1Eligible(req *http.Request) bool {
	return req.URL.Scheme == "http" && (req.Body == nil || req.Body == http.NoBody) &&
		req.Method != http.MethodConnect && req.Header["Upgrade"] == nil
}

// h1Host is the idle pool of one backend address: a stack, most recently used on top.
type h1Host struct {
	t     *h1Transport
	key   string // the URL's host, as in t.hosts
	addr  string // host:port to dial
	mu    sync.Mutex
	idle  []*h1Conn
	sweep *time.Timer // armed while idle is not empty
	gone  bool        // forgotten by the transport: connections given back are closed
}

func (t *h1Transport) host(hostport string) *h1Host {
	if h, ok := t.hosts.Load(hostport); ok {
		return h.(*h1Host)
	}
	h, _ := t.hosts.LoadOrStore(hostport, &h1Host{t: t, key: hostport, addr: withPort(hostport)})
	return h.(*h1Host)
}

// withPort adds http's default port to a host that has none.
func withPort(hostport string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(trimBrackets(hostport), "80")
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// get returns a live idle connection, or nil. Connections found closed by the backend, or
// idle for longer than the timeout, are closed on the way.
func (h *h1Host) get(now time.Time) *h1Conn {
	for {
		h.mu.Lock()
		n := len(h.idle)
		if n == 0 {
			h.mu.Unlock()
			return nil
		}
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		if now.Sub(c.idleAt) < h.t.idleTimeout && c.alive() {
			return c
		}
		_ = c.conn.Close()
	}
}

// put returns c to the pool, or closes it when the pool is full.
func (h *h1Host) put(c *h1Conn) {
	c.idleAt = time.Now()
	h.mu.Lock()
	if len(h.idle) >= h.t.maxIdle || h.gone {
		h.mu.Unlock()
		_ = c.conn.Close()
		return
	}
	h.idle = append(h.idle, c)
	if h.sweep == nil {
		h.sweep = time.AfterFunc(h.t.idleTimeout, h.expire)
	} else if len(h.idle) == 1 {
		h.sweep.Reset(h.t.idleTimeout)
	}
	h.mu.Unlock()
}

// expire closes the connections idle for longer than the timeout (the oldest are at the
// bottom of the stack) and re-arms itself while any are left.
func (h *h1Host) expire() {
	cutoff := time.Now().Add(-h.t.idleTimeout)
	h.mu.Lock()
	n := 0
	for n < len(h.idle) && !h.idle[n].idleAt.After(cutoff) {
		n++
	}
	old := append([]*h1Conn(nil), h.idle[:n]...)
	h.idle = append(h.idle[:0], h.idle[n:]...)
	empty := len(h.idle) == 0
	if !empty {
		h.sweep.Reset(time.Until(h.idle[0].idleAt.Add(h.t.idleTimeout)))
	}
	h.mu.Unlock()
	for _, c := range old {
		_ = c.conn.Close()
	}
	if empty {
		h.t.forget(h)
	}
}

// forget drops an idle host from the map, so that backends that come and go (containers'
// addresses) do not accumulate.
func (t *h1Transport) forget(h *h1Host) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.idle) > 0 {
		return // a request gave a connection back meanwhile: keep the host
	}
	t.hosts.CompareAndDelete(h.key, h)
	// A request that still holds h gives its connection back to nobody: it is closed
	// rather than left where neither reuse nor CloseIdleConnections would find it.
	h.gone = true
}

func (h *h1Host) closeIdle() {
	h.mu.Lock()
	old := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, c := range old {
		_ = c.conn.Close()
	}
}

func (t *h1Transport) closeIdle() {
	t.hosts.Range(func(_, h any) bool {
		h.(*h1Host).closeIdle()
		return true
	})
}

// h1Conn is one connection to a backend with its buffers, kept for the connection's life.
type h1Conn struct {
	h      *h1Host
	conn   net.Conn
	raw    syscall.RawConn // for the liveness peek; nil when the conn has none
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	reused bool
	// aborted is set by the cancellation; such a connection is never reused.
	aborted atomic.Bool

	// budget is what the response head may still read; negative: no limit (the body).
	budget int
	// The liveness peek's results, and the method value passed to RawConn.Read (made once,
	// so a peek allocates nothing).
	peekFn  func(fd uintptr) bool
	peekBuf [1]byte
	peekErr error
}

// Read is the bufio.Reader's source: the connection, bounded while a head is read.
func (c *h1Conn) Read(p []byte) (int, error) {
	if c.budget >= 0 {
		if c.budget == 0 {
			return 0, errHeadTooLarge
		}
		if len(p) > c.budget {
			p = p[:c.budget]
		}
		n, err := c.conn.Read(p)
		c.budget -= n
		return n, err
	}
	return c.conn.Read(p)
}

var errHeadTooLarge = fmt.Errorf("backend's response head is larger than %d bytes", h1MaxHeaderBytes)

func (t *h1Transport) dial(ctx context.Context, h *h1Host) (*h1Conn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	c := &h1Conn{h: h, conn: nc, budget: -1}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.peekFn = c.peek
		}
	}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	return c, nil
}

// RoundTrip sends req (eligible by h1Eligible) and reads the response head.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	h := t.host(req.URL.Host)
	for try := 0; ; try++ {
		var c *h1Conn
		if try == 0 {
			c = h.get(time.Now()) // a retry dials: the other pooled connections may be as stale
		}
		if c == nil {
			var err error
			if c, err = t.dial(ctx, h); err != nil {
				return nil, err
			}
		}
		resp, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var stale *staleConnError
		if try == 0 && errors.As(err, &stale) && replayable(req) {
			continue // the backend had closed the pooled connection: once more, on a new one
		}
		return nil, err
	}
}

// staleConnError is a failure on a reused connection before any byte of a response came
// back: most likely the backend closed the idle connection as the request went out.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// replayable is http.Transport's rule for sending a request again after a stale connection.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

func (c *h1Conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	reused := c.reused
	c.reused = true
	// Cancellation: when the request's context ends, every blocked read or write on the
	// connection returns at once, and the connection is not reused.
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abort)
	}
	if err := req.Write(c.bw); err != nil {
		return c.abandon(stop, nil, c.closeWith(staleIf(reused, err)))
	}
	if err := c.bw.Flush(); err != nil {
		return c.abandon(stop, nil, c.closeWith(staleIf(reused, err)))
	}
	trace := httptrace.ContextClientTrace(ctx)
	if t := c.h.t.headerTimeout; t > 0 {
		c.setReadDeadline(time.Now().Add(t))
	}
	c.budget = h1MaxHeaderBytes
	if _, err := c.br.Peek(1); err != nil {
		if isTimeout(err) && ctx.Err() == nil {
			err = fmt.Errorf("backend sent no response within %v: %w", c.h.t.headerTimeout, err)
		} else {
			err = staleIf(reused, err)
		}
		return c.abandon(stop, nil, c.closeWith(err))
	}
	if trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	var resp *http.Response
	for n := 0; ; n++ {
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil {
				err = fmt.Errorf("backend sent no complete response head within %v: %w", c.h.t.headerTimeout, err)
			}
			return c.abandon(stop, nil, c.closeWith(err))
		}
		code := resp.StatusCode
		if code >= 200 || code < 100 {
			break
		}
		if code == http.StatusSwitchingProtocols || n == h1Max1xx {
			return c.abandon(stop, nil, c.closeWith(fmt.Errorf("backend answered %d to a request that asked for no upgrade", code)))
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return c.abandon(stop, nil, c.closeWith(err))
			}
		}
	}
	c.budget = -1
	if c.h.t.headerTimeout > 0 {
		c.setReadDeadline(time.Time{})
	}
	// A body of unknown length with no chunking ends when the backend closes; a response
	// without a body (HEAD, 204, 304) has no length to know, and keeps the connection.
	closeAfter := resp.Close || (resp.Body != http.NoBody && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0)
	if resp.Body == http.NoBody {
		c.done(stop, !closeAfter)
		return resp, nil
	}
	resp.Body = &h1Body{c: c, rc: resp.Body, stop: stop, closeAfter: closeAfter}
	return resp, nil
}

// abandon ends a failed round trip: the connection is already closed; the cancellation
// watch is removed.
func (c *h1Conn) abandon(stop func() bool, resp *http.Response, err error) (*http.Response, error) {
	if stop != nil {
		stop()
	}
	return resp, err
}

func (c *h1Conn) closeWith(err error) error {
	_ = c.conn.Close()
	return err
}

// done ends a round trip whose response was read to its end: the connection goes back to
// the pool unless it must close or the request's cancellation already touched it.
func (c *h1Conn) done(stop func() bool, keep bool) {
	if stop != nil && !stop() {
		keep = false // abort ran, or is running: the connection's deadlines are spoilt
	}
	if keep {
		c.h.put(c)
		return
	}
	_ = c.conn.Close()
}

// abort is the cancellation: an expired deadline wakes every blocked read and write.
func (c *h1Conn) abort() {
	c.aborted.Store(true)
	_ = c.conn.SetDeadline(aLongTimeAgo)
}

// setReadDeadline sets the read deadline unless the request was cancelled: a deadline set
// after abort's would otherwise undo it.
func (c *h1Conn) setReadDeadline(t time.Time) {
	_ = c.conn.SetReadDeadline(t)
	if c.aborted.Load() {
		_ = c.conn.SetDeadline(aLongTimeAgo)
	}
}

// staleIf marks err as a stale-connection failure when the connection was a reused one and
// nothing of a response had come back.
func staleIf(reused bool, err error) error {
	if reused {
		return &staleConnError{err}
	}
	return err
}

var aLongTimeAgo = time.Unix(1, 0)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// h1Body is a response body on a pooled connection. Read to its end, it gives the
// connection back; closed before, it closes the connection (what is left of the body is
// not worth reading).
//
// idle, when set (ForwardConfig's body idle timeout), bounds every wait for the backend
// with the connection's read deadline: the same bound as idleBody, without a timer.
type h1Body struct {
	c          *h1Conn
	rc         io.ReadCloser
	stop       func() bool
	idle       time.Duration
	closeAfter bool
	state      atomic.Int32 // h1Open, h1Returned, h1Closed
}

const (
	h1Open int32 = iota
	h1Returned
	h1Closed
)

var errBodyClosed = errors.New("upstream: read on a closed response body")

func (b *h1Body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case h1Returned:
		return 0, io.EOF
	case h1Closed:
		return 0, errBodyClosed
	}
	if b.idle > 0 {
		b.c.setReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		if b.state.CompareAndSwap(h1Open, h1Returned) {
			if b.idle > 0 {
				b.c.setReadDeadline(time.Time{})
			}
			b.c.done(b.stop, !b.closeAfter)
		}
	case err != nil:
		if b.state.CompareAndSwap(h1Open, h1Closed) {
			b.c.done(b.stop, false)
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.state.CompareAndSwap(h1Open, h1Closed) {
		b.c.done(b.stop, false)
	}
	return nil
}
