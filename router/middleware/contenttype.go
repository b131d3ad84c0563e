package middleware

import (
	"net/http"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// contentType turns Content-Type detection back on. By default wharf, like Traefik v3,
// leaves a response without a Content-Type as it is: guessing one from the bytes is how a
// text file becomes executable HTML in a browser. With this middleware (autoDetect, the
// default here, as in Traefik v3) a response that has no Content-Type gets the one Go's
// http.DetectContentType reads from its first bytes. autoDetect=false (Traefik v2's way to
// switch detection off) keeps wharf's default.
var contentTypeType = Type{Name: "contentType", New: newContentType}

type contentTypeOptions struct {
	AutoDetect *bool
}

func newContentType(env *Env, opts *dynamic.Node) (Middleware, error) {
	o, err := decodeOptional[contentTypeOptions](env, opts, "contentType")
	if err != nil {
		return nil, err
	}
	if o.AutoDetect != nil && !*o.AutoDetect {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &sniffWriter{rw: w}
			next.ServeHTTP(sw, r)
			if sw.status != 0 {
				sw.commit(nil) // a status without a body
			}
		})
	}, nil
}

// sniffWriter sets Content-Type from the first bytes written when none was set. A
// Content-Type key present with no value is how the forwarder marks "none, and do not
// guess"; this writer is what guesses anyway.
type sniffWriter struct {
	rw     http.ResponseWriter
	status int
	done   bool
}

func (w *sniffWriter) Header() http.Header { return w.rw.Header() }

func (w *sniffWriter) WriteHeader(code int) {
	switch {
	case w.done:
		w.rw.WriteHeader(code)
	case code < 200 && code != http.StatusSwitchingProtocols:
		w.rw.WriteHeader(code) // informational: the real header comes later
	case w.status == 0:
		// Wait for the first bytes, unless there will be none.
		w.status = code
		if code == http.StatusSwitchingProtocols || code == http.StatusNoContent || code == http.StatusNotModified {
			w.commit(nil)
		}
	}
}

func (w *sniffWriter) commit(p []byte) {
	if w.done {
		return
	}
	w.done = true
	h := w.rw.Header()
	if v := h["Content-Type"]; len(v) == 0 || v[0] == "" {
		if len(p) > 0 && len(h["Content-Encoding"]) == 0 {
			h["Content-Type"] = []string{http.DetectContentType(p)}
		} else if v != nil {
			delete(h, "Content-Type")
		}
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.rw.WriteHeader(w.status)
}

func (w *sniffWriter) Write(p []byte) (int, error) {
	w.commit(p)
	return w.rw.Write(p)
}

func (w *sniffWriter) FlushError() error {
	w.commit(nil)
	return http.NewResponseController(w.rw).Flush()
}

func (w *sniffWriter) Flush() { _ = w.FlushError() }

func (w *sniffWriter) Unwrap() http.ResponseWriter { return w.rw }

var _ http.Flusher = (*sniffWriter)(nil)
