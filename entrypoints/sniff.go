package entrypoints

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// sniffListener serves TLS and plain HTTP on one port, as Traefik does: the first byte of a
// TLS connection is a handshake record (0x16), never the first byte of an HTTP method. The
// byte is read in a goroutine per connection, under a deadline, so a client that connects
// and sends nothing delays neither the accept loop nor anyone else.
type sniffListener struct {
	net.Listener
	tls     *tls.Config
	timeout time.Duration
	conns   chan net.Conn
	errc    chan error
	done    chan struct{}
	once    sync.Once
}

const tlsRecordHandshake = 0x16

func newSniffListener(ln net.Listener, cfg *tls.Config, timeout time.Duration) *sniffListener {
	l := &sniffListener{Listener: ln, tls: cfg, timeout: timeout,
		conns: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait and retry, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.errc <- err
			return
		}
		backoff = 0
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(l.timeout))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var out net.Conn = &peekedConn{Conn: c, first: b[0], pending: true}
	if b[0] == tlsRecordHandshake {
		out = tls.Server(out, l.tls)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// peekedConn gives back the byte the sniffer read.
type peekedConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}
