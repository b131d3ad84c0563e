package middleware

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// encoder is what gzip.Writer, brotli.Writer and zstd.Encoder have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

type compressState uint8

const (
	undecided compressState = iota // waiting for minResponseBodyBytes, a flush, or the end
	passing                        // sending as it is
	compressing
)

// compressWriter decides, as late as it must and as early as it can, whether to compress:
// from the header when the length is known, else from the first minResponseBodyBytes.
type compressWriter struct {
	rw      http.ResponseWriter
	c       *compressMW
	enc     encoding
	status  int
	state   compressState
	buf     []byte // body held while undecided
	encoder encoder
}

func (w *compressWriter) Header() http.Header { return w.rw.Header() }

func (w *compressWriter) WriteHeader(code int) {
	if w.status != 0 {
		if w.state == passing {
			w.rw.WriteHeader(code) // let net/http report the superfluous call
		}
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(code) // informational: the real header comes later
		return
	}
	w.status = code
	h := w.rw.Header()
	if !w.c.compressible(h, code) {
		w.pass(false)
		return
	}
	if cl := headerFirst(h, "Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			if n < int64(w.c.minSize) {
				w.pass(true)
			} else {
				w.start(nil)
			}
		}
	}
}

// pass sends the header as it is. vary says the response could have been compressed for
// this client had it been larger, so caches must still key on Accept-Encoding.
func (w *compressWriter) pass(vary bool) {
	w.state = passing
	if vary {
		addVary(w.rw.Header(), "Accept-Encoding")
	}
	w.rw.WriteHeader(w.status)
}

// start sends the header of the compressed response. first is the body so far, used to
// guess a Content-Type the backend did not give, since the client could not guess it from
// compressed bytes.
func (w *compressWriter) start(first []byte) {
	w.state = compressing
	h := w.rw.Header()
	if _, ok := h["Content-Type"]; !ok {
		if len(first) > 0 {
			h["Content-Type"] = []string{http.DetectContentType(first)}
		} else {
			h["Content-Type"] = nil // unknown: and net/http must not sniff compressed bytes
		}
	}
	h["Content-Encoding"] = encodingValues[w.enc]
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges") // ranges of the compressed form are not offered
	if et := headerFirst(h, "Etag"); strings.HasPrefix(et, `"`) {
		h["Etag"] = []string{"W/" + et} // same content, other bytes: no longer a strong match
	}
	addVary(h, "Accept-Encoding")
	w.rw.WriteHeader(w.status)
	w.encoder = w.c.encoders[w.enc].Get().(encoder)
	w.encoder.Reset(w.rw)
}

func (w *compressWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case passing:
		return w.rw.Write(p)
	case compressing:
		return w.encoder.Write(p)
	}
	if len(w.buf)+len(p) < w.c.minSize {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if len(w.buf) == 0 {
		w.start(p)
		return w.encoder.Write(p)
	}
	w.buf = append(w.buf, p...)
	w.start(w.buf)
	if _, err := w.encoder.Write(w.buf); err != nil {
		return 0, err
	}
	w.buf = w.buf[:0]
	return len(p), nil
}

// FlushError is a streaming handler saying "send what you have": an undecided response is
// compressed from here on, and what the encoder holds is pushed out.
func (w *compressWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.state == undecided {
		w.start(w.buf)
		if err := w.drain(); err != nil {
			return err
		}
	}
	if w.state == compressing {
		if err := w.encoder.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.rw).Flush()
}

func (w *compressWriter) Flush() { _ = w.FlushError() }

func (w *compressWriter) drain() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.encoder.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *compressWriter) Unwrap() http.ResponseWriter { return w.rw }

// finish ends the response after the handler returned: a body that stayed below the
// threshold goes out as it is; a compressed one gets its trailer.
func (w *compressWriter) finish() {
	switch w.state {
	case undecided:
		if w.status == 0 {
			return // nothing was written: net/http sends an empty 200
		}
		w.pass(true)
		if len(w.buf) > 0 {
			_, _ = w.rw.Write(w.buf)
		}
	case compressing:
		_ = w.encoder.Close()
	}
}
