package entrypoints

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// edgeListener hands net/http connections whose HTTP/1 framing is checked (see framing).
//
// With TLS it also serves TLS and plain HTTP on one port, as Traefik does: the first byte of
// a TLS connection is a handshake record (0x16), never the first byte of an HTTP method. The
// byte is read, and the TLS handshake done, in a goroutine per connection under one
// deadline, so a client that connects and sends nothing, or starts a handshake and never
// finishes it, delays neither the accept loop nor anyone else, and is closed at the
// deadline. An HTTP/2 connection is given to net/http as the *tls.Conn it needs; an HTTP/1
// connection over TLS is wrapped like a plain one so that its framing is checked too, and
// the guard restores the request's TLS state.
//
// Idle HTTP/1 connections are parked: taken from net/http, which holds buffers and a goroutine
// for every connection it serves, until their next request starts (see park.go).
type edgeListener struct {
	net.Listener
	tls     *tls.Config // nil: plain HTTP only
	timeout time.Duration
	maxHead int
	stall   time.Duration
	hook    func(net.Conn, http.ConnState) // Config.ConnState
	log     zerolog.Logger
	conns   chan net.Conn
	errc    chan error
	done    chan struct{}
	once    sync.Once

	mu     sync.Mutex
	parked map[*edgeConn]struct{} // idle connections waited on outside net/http (see park.go)
	closed bool
}

const tlsRecordHandshake = 0x16

func newEdgeListener(ln net.Listener, c *Config, tc *tls.Config) *edgeListener {
	l := &edgeListener{Listener: ln, tls: tc, timeout: c.ReadHeaderTimeout, maxHead: c.MaxHeaderBytes,
		hook: c.ConnState, log: c.Log, conns: make(chan net.Conn), errc: make(chan error, 1),
		done: make(chan struct{}), parked: map[*edgeConn]struct{}{}}
	if c.WriteTimeout == 0 {
		// net/http sets no write deadline of its own; a client that stops reading is cut
		// off when a write makes no progress for this long.
		l.stall = c.WriteStallTimeout
	}
	// Connections reach Accept through a channel, also without TLS: parked connections
	// come back that way.
	go l.acceptLoop()
	return l
}

func (l *edgeListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				l.errc <- err
				return
			}
			// Out of file descriptors (EMFILE, which is not a timeout), a connection reset
			// before it was accepted and the like: wait and retry, as net/http does. A
			// client that opens connections until none are left must not end the entrypoint.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if l.tls == nil {
			l.deliver(l.wrap(c, c, 0, false, nil), c)
			continue
		}
		go l.sniff(c)
	}
}

func (l *edgeListener) sniff(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn
	if b[0] == tlsRecordHandshake {
		rc := &replayConn{Conn: c, first: b, pending: true}
		tc := tls.Server(rc, l.tls)
		if err := tc.HandshakeContext(context.Background()); err != nil {
			l.log.Debug().Str("source", "tls").Str("remote", c.RemoteAddr().String()).Err(err).Msg("TLS handshake failed")
			_ = c.Close()
			return
		}
		_ = c.SetDeadline(time.Time{})
		if st := tc.ConnectionState(); st.NegotiatedProtocol == "h2" {
			out = tc
		} else {
			ec := l.wrap(tc, c, 0, false, &st)
			ec.replay = rc
			// ALPN did not choose h2, so HTTP/2 is not spoken here: net/http would take a
			// preface for h2c and serve it as cleartext, without the TLS state.
			ec.preface = 1
			out = ec
		}
	} else {
		_ = c.SetDeadline(time.Time{})
		out = l.wrap(c, c, b[0], true, nil)
	}
	l.deliver(out, c)
}

// deliver hands c to Accept, or closes raw when the listener is closed first.
func (l *edgeListener) deliver(c, raw net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = raw.Close()
	}
}

// wrap makes c (the TCP connection raw, or TLS over it) an edgeConn.
func (l *edgeListener) wrap(c, raw net.Conn, first byte, pending bool, st *tls.ConnectionState) *edgeConn {
	tcp, _ := raw.(*net.TCPConn)
	return &edgeConn{Conn: c, tcp: tcp, l: l, first: [1]byte{first}, pending: pending, framing: newFraming(l.maxHead), tls: st, stall: l.stall}
}

func (l *edgeListener) Accept() (net.Conn, error) {
	if l.isClosed() {
		return nil, net.ErrClosed
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *edgeListener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Close stops accepting and closes the parked connections: http.Server's Shutdown and
// Close close their listeners first, then the idle connections they know.
func (l *edgeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	err := l.Listener.Close()
	l.closeParked()
	return err
}

// replayConn gives back the byte the sniffer read, beneath TLS (and the byte that ends
// parking, see await).
type replayConn struct {
	net.Conn
	first   [1]byte
	pending bool
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first[0]
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// edgeConn is an HTTP/1 connection: every byte read goes through the framing check, and
// every write must make progress within the stall timeout. While idle it may be parked.
type edgeConn struct {
	net.Conn
	tcp      *net.TCPConn  // the connection beneath, for SetLinger; nil in tests with other conns
	l        *edgeListener // the listener that parks it; nil: never parked
	first    [1]byte       // a byte read before net/http asked (the sniffed or the awaited one)
	pending  bool          // first is still to be handed to net/http
	framing  *framing
	tls      *tls.ConnectionState // the handshake's state when Conn is a *tls.Conn
	replay   *replayConn          // beneath the *tls.Conn
	stall    time.Duration
	served   atomic.Int64 // requests handed to the guard so far
	hijacked atomic.Bool  // the connection left HTTP (an upgrade): stop checking
	parking               // see park.go
}

func (c *edgeConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first[0]
		c.pending = false
		return c.checked(p, 1, nil)
	}
	if c.parkedErr.Load() {
		return c.unpark()
	}
	if c.idle.Load() {
		c.idle.Store(false)
		if c.parkable() {
			return c.readOrPark(p)
		}
	}
	n, err := c.Conn.Read(p)
	return c.checked(p, n, err)
}

// checked passes the n bytes read to the framing check.
func (c *edgeConn) checked(p []byte, n int, err error) (int, error) {
	if n > 0 && c.preface != 0 {
		if c.h2cPreface(p[:n]) {
			return 0, errUnwantedPreface
		}
	}
	if n > 0 && !c.hijacked.Load() {
		c.framing.feed(p[:n])
	}
	return n, err
}

func (c *edgeConn) Write(p []byte) (int, error) {
	if c.stall > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
	}
	n, err := c.Conn.Write(p)
	var ne net.Error
	if err != nil && c.tcp != nil && errors.As(err, &ne) && ne.Timeout() {
		// The client stopped reading. A normal close would leave the unsent response in
		// the kernel, behind a zero window, for as long as the client keeps the window
		// shut (the socket lingers in FIN-WAIT-1 and the client sees no end). Close with a
		// reset instead: the data is dropped and the client learns at once.
		_ = c.tcp.SetLinger(0)
	}
	return n, err
}

type connKey struct{}

// connInfo is what the guard keeps about one connection.
type connInfo struct {
	edge *edgeConn // the HTTP/1 wrapper; nil for HTTP/2 over TLS
	raw  net.Conn  // closed to cut the connection off
	resets
}

// connContext makes the connection of a request reachable from its context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{raw: c}
	switch c := c.(type) {
	case *edgeConn:
		ci.edge = c
	case *tls.Conn:
		// Closing the TCP connection, not the TLS one: tls.Conn.Close first writes a
		// close_notify and can block behind a write to a client that does not read.
		ci.raw = c.NetConn()
	}
	return context.WithValue(ctx, connKey{}, ci)
}
