package entrypoints

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

// errMalformedBody is what the request body returns once the framing check has refused it.
var errMalformedBody = errors.New("malformed request body")

// watchExchange watches the request body, when there is one, so that a failure that is the
// client's is answered as the client's: 400 for a malformed body (a bad chunk), 408 for one
// that did not arrive in time, and the connection closed. Without it the forwarder sees a
// failed exchange with the backend and answers 502 or 504, blaming the backend. It also
// stops the framing check when an upgraded connection leaves HTTP. Requests with neither
// (most of them) are passed through untouched.
func watchExchange(w http.ResponseWriter, r *http.Request, ec *edgeConn) (http.ResponseWriter, *http.Request) {
	hasBody := r.Body != nil && r.Body != http.NoBody
	upgrade := ec != nil && r.Header.Get("Upgrade") != ""
	if !hasBody && !upgrade {
		return w, r
	}
	gw := &guardedWriter{ResponseWriter: w}
	if upgrade {
		gw.conn = ec
	}
	if hasBody {
		gb := &guardedBody{ReadCloser: r.Body}
		if ec != nil {
			gb.framing, gb.k = ec.framing, ec.served.Load()-1
		}
		// A copy of the request carries the watched body: net/http keeps the original and
		// inspects its Body (an unread "Expect: 100-continue" body is not waited for only
		// if it still sees its own reader there).
		r2 := new(http.Request)
		*r2 = *r
		r2.Body, gw.body = gb, gb
		r = r2
	}
	return gw, r
}

// guardedBody records how reading the request body failed.
type guardedBody struct {
	io.ReadCloser
	framing *framing // nil for HTTP/2
	k       int64    // the request's index on its connection
	status  atomic.Int32
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil && b.framing != nil && b.framing.refused(b.k) {
		n, err = 0, errMalformedBody
	}
	if err != nil && err != io.EOF {
		b.status.CompareAndSwap(0, int32(clientFailure(err)))
	}
	return n, err
}

func clientFailure(err error) int {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// guardedWriter answers for the client's failure: when the request body failed to read,
// a 5xx the handler writes becomes the client's 4xx, and the connection is closed.
type guardedWriter struct {
	http.ResponseWriter
	body      *guardedBody // nil without a body
	conn      *edgeConn    // set for upgrade requests on HTTP/1
	wrote     bool
	rewritten bool
}

func (w *guardedWriter) WriteHeader(code int) {
	if code >= 200 && !w.wrote {
		w.wrote = true
		if st := w.failure(); st != 0 {
			w.Header().Set("Connection", "close")
			if code >= 500 {
				code, w.rewritten = st, true
				h := w.Header()
				h.Del("Content-Length")
				h.Set("Content-Type", "text/plain; charset=utf-8")
				h.Set("X-Content-Type-Options", "nosniff")
				w.ResponseWriter.WriteHeader(code)
				_, _ = io.WriteString(w.ResponseWriter, http.StatusText(code)+"\n")
				return
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *guardedWriter) failure() int {
	if w.body == nil {
		return 0
	}
	return int(w.body.status.Load())
}

func (w *guardedWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewritten {
		return len(p), nil // the handler's text was about the backend; ours was written
	}
	return w.ResponseWriter.Write(p)
}

func (w *guardedWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (a WebSocket): what is read from it from now on is no
// longer HTTP/1 and is not checked.
func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.conn != nil {
		w.conn.hijacked.Store(true)
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer (deadlines, full duplex).
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
