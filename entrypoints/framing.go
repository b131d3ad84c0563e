package entrypoints

import "sync/atomic"

// framing checks how each HTTP/1 request on a connection is delimited, on the raw bytes,
// before net/http parses them. net/http is correct but lenient where RFC 9112 lets it be:
// it takes Transfer-Encoding over a conflicting Content-Length and keeps the connection
// open, folds obs-fold lines, accepts a bare LF as a line end, merges identical duplicate
// Content-Length fields, and ignores Transfer-Encoding on HTTP/1.0. Each of those is fine
// for an origin server and a way to desynchronize for a proxy whose front end (a CDN, a
// load balancer) reads the same bytes differently. wharf refuses them with 400 and closes
// the connection.
//
// The checker follows the framing of every request on the connection (Content-Length
// bodies are skipped, chunked bodies are parsed), so pipelined requests are checked too.
// The first request whose framing is refused, and every request after it, are answered
// 400 by the guard. It stops at the first problem: after that the connection is closed.
//
// feed runs on whichever goroutine reads the connection; refused is called by handlers.
type framing struct {
	maxHead int
	heads   int64        // index of the request being read, used by feed only
	bad     atomic.Int64 // index of the first refused request; -1 while none
	message
}

// message is the state of the request being read; it is reset between requests.
type message struct {
	state    uint8
	headLen  int
	lineLen  int
	tail     uint64 // the last 8 bytes of the request line, for its version
	name     [24]byte
	nameLen  int
	field    uint8 // which field the current line holds (fieldOther, fieldCL, fieldTE)
	value    [24]byte
	valueLen int
	overlong bool // the value of a field of interest did not fit in value

	nCL, nTE  int
	cl        int64
	clBad     bool
	teChunked bool
	http10    bool

	remaining int64 // body bytes (Content-Length or chunk data) still to skip
	digits    int   // hex digits of the current chunk size
	chunkWS   bool  // whitespace after the chunk size was seen
}

const (
	stRequestLine uint8 = iota
	stRequestLineLF
	stFieldStart
	stFieldName
	stFieldValue
	stFieldLF
	stHeadEndLF
	stBody
	stChunkSize
	stChunkExt
	stChunkSizeLF
	stChunkData
	stChunkDataCR
	stChunkDataLF
	stTrailerStart
	stTrailerLine
	stTrailerLF
	stTrailerEndLF
	stStopped
)

const (
	fieldOther uint8 = iota
	fieldCL
	fieldTE
)

// maxChunkLine bounds a chunk-size line with its extensions, as net/http does.
const maxChunkLine = 4096

func newFraming(maxHeaderBytes int) *framing {
	// Heads larger than this are answered 431 by net/http before any handler runs; the
	// checker only needs to stop following such a connection.
	f := &framing{maxHead: maxHeaderBytes + 4096}
	f.bad.Store(-1)
	return f
}

// refused reports whether the request with index k (0-based, in arrival order on the
// connection) must be refused.
func (f *framing) refused(k int64) bool {
	b := f.bad.Load()
	return b >= 0 && k >= b
}

// between reports whether every byte fed so far ended a request (and none was refused).
func (f *framing) between() bool {
	return f.state == stRequestLine && f.headLen == 0
}

// fail marks the request being read as refused and stops following the connection.
func (f *framing) fail() {
	f.bad.CompareAndSwap(-1, f.heads)
	f.state = stStopped
}

// stop ends checking where the connection leaves HTTP/1 framing that the checker follows:
// an upgrade, or a request net/http refuses on its own (and then closes the connection).
// No request after the current one is served on this connection.
func (f *framing) stop() {
	f.bad.CompareAndSwap(-1, f.heads+1)
	f.state = stStopped
}

// feed checks the next bytes received on the connection.
func (f *framing) feed(b []byte) {
	for len(b) > 0 && f.state != stStopped {
		switch f.state {
		case stBody, stChunkData:
			n := int64(len(b))
			if n > f.remaining {
				n = f.remaining
			}
			b = b[n:]
			f.remaining -= n
			if f.remaining == 0 {
				if f.state == stBody {
					f.endRequest()
				} else {
					f.state = stChunkDataCR
				}
			}
		default:
			f.step(b[0])
			b = b[1:]
		}
	}
}

func (f *framing) step(c byte) {
	if f.state <= stHeadEndLF {
		if f.headLen++; f.headLen > f.maxHead {
			f.stop()
			return
		}
		if c == 0 {
			f.fail() // NUL anywhere in a head
			return
		}
	}
	switch f.state {
	case stRequestLine:
		switch c {
		case '\r':
			f.state = stRequestLineLF
		case '\n':
			f.fail() // bare LF
		default:
			f.tail = f.tail<<8 | uint64(c)
		}
	case stRequestLineLF:
		if c != '\n' {
			f.fail() // bare CR
			return
		}
		switch f.tail {
		case versionWord("HTTP/1.1"):
		case versionWord("HTTP/1.0"):
			f.http10 = true
		case versionWord("HTTP/2.0"):
			// The HTTP/2 preface (prior knowledge): net/http serves the connection as
			// HTTP/2 from here, or refuses it; either way it is no longer HTTP/1.
			f.stop()
			return
		default:
			f.fail() // HTTP/0.9, HTTP/1.2, or nothing recognizable
			return
		}
		f.state = stFieldStart
	case stFieldStart:
		switch c {
		case '\r':
			f.state = stHeadEndLF
		case '\n', ' ', '\t':
			f.fail() // bare LF, or obs-fold (a line that continues the previous field)
		default:
			f.nameLen, f.valueLen, f.overlong, f.field = 0, 0, false, fieldOther
			f.state = stFieldName
			f.nameByte(c)
		}
	case stFieldName:
		f.nameByte(c)
	case stFieldValue:
		switch c {
		case '\r':
			f.state = stFieldLF
		case '\n':
			f.fail()
		default:
			if f.field != fieldOther {
				if f.valueLen == len(f.value) {
					f.overlong = true
				} else {
					f.value[f.valueLen] = c
					f.valueLen++
				}
			}
		}
	case stFieldLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.endField()
		f.state = stFieldStart
	case stHeadEndLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.endHead()
	default:
		f.bodyStep(c)
	}
}

// versionWord packs an 8-byte version string the way step accumulates f.tail.
func versionWord(s string) uint64 {
	var w uint64
	for i := 0; i < len(s); i++ {
		w = w<<8 | uint64(s[i])
	}
	return w
}

func (f *framing) nameByte(c byte) {
	switch {
	case c == ':':
		f.field = fieldOf(f.name[:min(f.nameLen, len(f.name))], f.nameLen)
		f.state = stFieldValue
	case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		f.fail() // whitespace before the colon, or a line without one
	default:
		if f.nameLen < len(f.name) {
			f.name[f.nameLen] = lower(c)
		}
		f.nameLen++
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func fieldOf(name []byte, n int) uint8 {
	switch {
	case n == len("content-length") && string(name) == "content-length":
		return fieldCL
	case n == len("transfer-encoding") && string(name) == "transfer-encoding":
		return fieldTE
	}
	return fieldOther
}

func (f *framing) endField() {
	switch f.field {
	case fieldCL:
		f.nCL++
		v := trimOWS(f.value[:f.valueLen])
		if f.overlong || len(v) == 0 || len(v) > 18 {
			f.clBad = true
			return
		}
		var n int64
		for _, d := range v {
			if d < '0' || d > '9' {
				f.clBad = true
				return
			}
			n = n*10 + int64(d-'0')
		}
		f.cl = n
	case fieldTE:
		f.nTE++
		v := trimOWS(f.value[:f.valueLen])
		f.teChunked = !f.overlong && len(v) == len("chunked") && string(lowerAll(v)) == "chunked"
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lowerAll(b []byte) []byte {
	for i, c := range b {
		b[i] = lower(c)
	}
	return b
}

// endHead decides how the body of the request is delimited (RFC 9112 section 6).
func (f *framing) endHead() {
	switch {
	case f.nTE > 0 && f.nCL > 0:
		f.fail() // both: the classic desync
		return
	case f.nTE > 0 && f.http10:
		f.fail() // RFC 9112 6.1: the framing of such a message is faulty
		return
	case f.nCL > 1 || f.clBad:
		f.fail() // duplicate, list-valued, signed or non-numeric Content-Length
		return
	case f.nTE > 1 || f.nTE == 1 && !f.teChunked:
		f.stop() // net/http answers 501 and closes
		return
	}
	switch {
	case f.teChunked:
		f.digits, f.chunkWS, f.remaining, f.lineLen = 0, false, 0, 0
		f.state = stChunkSize
	case f.cl > 0:
		f.remaining = f.cl
		f.state = stBody
	default:
		f.endRequest()
	}
}

func (f *framing) endRequest() {
	f.heads++
	f.message = message{}
}

// bodyStep follows a chunked body (RFC 9112 7.1): strict CRLF everywhere, as net/http's
// own chunked reader requires since Go 1.24.2.
func (f *framing) bodyStep(c byte) {
	if f.state == stChunkSize || f.state == stChunkExt || f.state >= stTrailerStart {
		if f.lineLen++; f.lineLen > maxChunkLine {
			f.fail()
			return
		}
	}
	switch f.state {
	case stChunkSize:
		switch {
		case c == '\r' && f.digits > 0:
			f.state = stChunkSizeLF
		case c == ';' && f.digits > 0:
			f.state = stChunkExt
		case (c == ' ' || c == '\t') && f.digits > 0:
			f.chunkWS = true
		case isHexDigit(c) && !f.chunkWS && f.digits < 15:
			f.digits++
			f.remaining = f.remaining<<4 | int64(unhexDigit(c))
		default:
			f.fail()
		}
	case stChunkExt:
		switch c {
		case '\r':
			f.state = stChunkSizeLF
		case '\n', 0:
			f.fail()
		}
	case stChunkSizeLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.lineLen = 0
		if f.remaining == 0 {
			f.state = stTrailerStart
			return
		}
		f.state = stChunkData
	case stChunkDataCR:
		if c != '\r' {
			f.fail()
			return
		}
		f.state = stChunkDataLF
	case stChunkDataLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.digits, f.chunkWS, f.lineLen = 0, false, 0
		f.state = stChunkSize
	case stTrailerStart:
		switch c {
		case '\r':
			f.state = stTrailerEndLF
		case '\n', ' ', '\t', 0:
			f.fail()
		default:
			f.state = stTrailerLine
		}
	case stTrailerLine:
		switch c {
		case '\r':
			f.state = stTrailerLF
		case '\n', 0:
			f.fail()
		}
	case stTrailerLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.lineLen = 0
		f.state = stTrailerStart
	case stTrailerEndLF:
		if c != '\n' {
			f.fail()
			return
		}
		f.endRequest()
	}
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexDigit(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
