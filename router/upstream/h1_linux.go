package upstream

import (
	"syscall"
	"unsafe"
)

// alive reports whether an idle connection can carry a request: the backend has not closed
// it (a peek would see EOF) and has sent nothing unasked. The peek does not block and reads
// nothing off the socket.
func (c *h1Conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	c.peekErr = nil
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekErr == syscall.EAGAIN // nothing to read: open and quiet
}

// peek is recv(fd, 1 byte, MSG_PEEK|MSG_DONTWAIT) without a source address, which
// syscall.Recvfrom would allocate for.
func (c *h1Conn) peek(fd uintptr) bool {
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		c.peekErr = errno
	}
	return true // done, whatever the answer: never wait for the socket to become readable
}
