//go:build !linux

package upstream

// alive reports whether an idle connection can carry a request. Without a non-blocking
// peek, only unasked bytes from the backend are seen; a closed connection is found by the
// request, which is then sent once more if it is replayable.
func (c *h1Conn) alive() bool { return c.br.Buffered() == 0 }

func (c *h1Conn) peek(uintptr) bool { return true }
