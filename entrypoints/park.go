package entrypoints

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Idle keep-alive connections are parked. net/http's server holds a 4 KB bufio.Reader, a
// 4 KB bufio.Writer, its per-connection structs and a goroutine whose stack has grown to
// 8 KB for as long as a connection is open, busy or idle: about 20 KB per idle connection
// where nginx needs 1. So when a connection has been idle for parkAfter, wharf takes it back:
// its Read tells net/http the connection ended, its Close leaves the socket open, and a
// goroutine of wharf's own (a 1-byte read, the smallest stack there is) waits for the next
// request; its first byte hands the connection back to net/http through Accept. A parked
// connection costs its socket, its wrapper and that goroutine.
//
// A connection is parked only where net/http waits for the first byte of the next request
// with nothing buffered: it has reported the connection idle (ConnState), and every byte
// read so far ended a request the guard has seen. What net/http does for an idle
// connection still happens: its idle timeout (the read deadline it set) closes a parked
// connection, Shutdown and Close close them (they close the listener first, which closes
// what it parked), and the ConnState hook sees one connection, idle while parked, not a
// close and a new connection per request.
//
// parkAfter keeps connections under load in net/http: parking and resuming costs about
// what accepting a connection does, which is nothing to a connection idle for this long
// and a waste between the requests of a busy one.
const parkAfter = 100 * time.Millisecond

var (
	// errParked is what net/http reads when its connection is parked; it only makes it
	// let go of the connection.
	errParked = errors.New("idle connection parked")
	// errUnwantedPreface: see h2cPreface.
	errUnwantedPreface = errors.New("HTTP/2 preface where HTTP/2 was not agreed on")
)

type parkState uint8

const (
	connServed  parkState = iota // net/http has it
	connParking                  // Read told net/http it ended: net/http's Close is not a close
	connParked                   // wharf waits for its next request
	connClosed
)

// prefaceRefused is edgeConn.preface once the HTTP/2 preface came where it is refused.
const prefaceRefused = 0xff

// parking is an edgeConn's parking state.
type parking struct {
	idle atomic.Bool // net/http reported the connection idle: its next Read may park it
	// idleN is served when net/http reported the connection idle. A read after a request
	// has begun since (net/http's background read, with a pipelined request buffered) must
	// never park: that connection is being served.
	idleN atomic.Int64
	// parkedErr is set while a read has answered errParked and net/http has not yet closed the
	// connection; a read in between means net/http did not let go, and undoes the park.
	parkedErr atomic.Bool
	rdl       time.Time  // the read deadline net/http set last (its idle timeout, while idle)
	mu        sync.Mutex // guards state: Shutdown may close the connection while it parks
	state     parkState
	resumed   bool  // back from parking: net/http's StateNew for it is not news to the hook
	preface   uint8 // 1 + bytes of the HTTP/2 preface seen (resumed, or TLS without h2); 0: not looking
}

func (c *edgeConn) SetReadDeadline(t time.Time) error {
	c.rdl = t
	return c.Conn.SetReadDeadline(t)
}

func (c *edgeConn) SetDeadline(t time.Time) error {
	c.rdl = t
	return c.Conn.SetDeadline(t)
}

// parkable reports whether net/http, about to wait for the next request, holds nothing of
// the connection but buffers: every byte read ended a request, and the guard saw each one.
func (c *edgeConn) parkable() bool {
	n := c.served.Load() // once: a request that begins meanwhile must fail one of the checks
	return c.l != nil && !c.hijacked.Load() && n == c.idleN.Load() && c.framing.between() && c.framing.heads == n
}

// unpark is a read that came after errParked: net/http is still using the connection, so
// the park is called off and its close will be a real one. The read fails, as the one
// before did.
func (c *edgeConn) unpark() (int, error) {
	c.mu.Lock()
	if c.state == connParking {
		c.state = connServed
	}
	c.mu.Unlock()
	c.parkedErr.Store(false)
	return 0, errParked
}

// readOrPark is net/http's first read of an idle connection: a read like any other if the
// next request starts within parkAfter, errParked if it does not.
func (c *edgeConn) readOrPark(p []byte) (int, error) {
	dl := time.Now().Add(parkAfter)
	if !c.rdl.IsZero() && c.rdl.Before(dl) {
		n, err := c.Conn.Read(p) // idle timeout sooner than parkAfter: not worth it
		return c.checked(p, n, err)
	}
	_ = c.Conn.SetReadDeadline(dl)
	n, err := c.Conn.Read(p)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.state == connServed {
			c.state = connParking
			c.parkedErr.Store(true)
			return 0, errParked
		}
		return 0, net.ErrClosed
	}
	_ = c.Conn.SetReadDeadline(c.rdl)
	return c.checked(p, n, err)
}

// Close closes the connection, unless net/http is letting go of it to have it parked.
func (c *edgeConn) Close() error {
	c.mu.Lock()
	parking := c.state == connParking
	if !parking {
		c.state = connClosed
	}
	c.mu.Unlock()
	if parking {
		return nil
	}
	return c.Conn.Close()
}

// connState is the server's ConnState hook: it marks idle connections, parks those that
// net/http let go of, and shows Config.ConnState one connection from first byte to close.
func (l *edgeListener) connState(nc net.Conn, st http.ConnState) {
	if c, ok := nc.(*edgeConn); ok {
		switch st {
		case http.StateIdle:
			c.idleN.Store(c.served.Load())
			c.idle.Store(true)
		case http.StateNew:
			if c.resumed {
				c.resumed = false
				return
			}
		case http.StateClosed:
			c.mu.Lock()
			parking := c.state == connParking
			if parking {
				c.state = connParked
				c.parkedErr.Store(false)
			}
			c.mu.Unlock()
			if parking {
				l.park(c)
				return
			}
		}
	}
	if l.hook != nil {
		l.hook(nc, st)
	}
}

// park waits for the next request of c, which net/http no longer serves.
func (l *edgeListener) park(c *edgeConn) {
	// The deadline is net/http's idle timeout again; the short one of readOrPark expired.
	_ = c.Conn.SetReadDeadline(c.rdl)
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.parked[c] = struct{}{}
	}
	l.mu.Unlock()
	if closed {
		l.end(c)
		return
	}
	go l.await(c)
}

// await reads the first byte of the next request and hands the connection back to
// net/http; the idle timeout, the client's close or the listener's ends it instead. Over
// TLS the byte is read beneath TLS and given back to it: crypto/tls's own read path needs
// a goroutine stack twice as large, for as long as the connection is parked.
func (l *edgeListener) await(c *edgeConn) {
	var n int
	if c.replay != nil {
		n, _ = c.replay.Conn.Read(c.replay.first[:])
		c.replay.pending = n > 0
	} else {
		n, _ = c.Conn.Read(c.first[:])
		c.pending = n > 0
	}
	l.mu.Lock()
	delete(l.parked, c)
	closed := l.closed
	l.mu.Unlock()
	if n == 0 || closed {
		l.end(c)
		return
	}
	c.mu.Lock()
	c.state = connServed
	c.mu.Unlock()
	c.resumed, c.preface = true, 1
	select {
	case l.conns <- c:
	case <-l.done:
		l.end(c)
	}
}

// end closes a connection net/http does not serve and tells the hook.
func (l *edgeListener) end(c *edgeConn) {
	_ = c.Close()
	if l.hook != nil {
		l.hook(c, http.StateClosed)
	}
}

// closeParked closes the parked connections; their awaits end them.
func (l *edgeListener) closeParked() {
	l.mu.Lock()
	l.closed = true
	parked := make([]*edgeConn, 0, len(l.parked))
	for c := range l.parked {
		parked = append(parked, c)
	}
	l.mu.Unlock()
	for _, c := range parked {
		if c.tcp != nil {
			// The socket first: a TLS close would try to send close_notify, which a client
			// that stopped reading could hold for seconds, under net/http's lock.
			_ = c.tcp.Close()
		}
		_ = c.Close()
	}
}

// h2cPreface reports whether the bytes read start the HTTP/2 preface on a connection
// where it is refused. net/http looks for the preface (HTTP/2 with prior knowledge) at the
// start of every connection it is given. On a connection that carried HTTP/1 requests
// before it was parked, the preface is a request, which wharf refuses, not a switch to
// HTTP/2 behind the framing check's back; over TLS, HTTP/2 is chosen with ALPN, and a
// client that did not choose it does not get cleartext-style HTTP/2 without the TLS state.
// Every read after it fails (net/http answers 400 or closes the connection).
func (c *edgeConn) h2cPreface(p []byte) bool {
	const pri = "PRI * HTTP/2.0"
	if c.preface == prefaceRefused {
		return true
	}
	for _, b := range p {
		i := int(c.preface) - 1
		if b != pri[i] {
			c.preface = 0
			return false
		}
		if c.preface++; int(c.preface)-1 == len(pri) {
			c.preface = prefaceRefused
			c.framing.fail()
			return true
		}
	}
	return false
}
