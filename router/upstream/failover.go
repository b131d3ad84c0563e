package upstream

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// Failover sends requests to Main while it has a healthy server, and to Fallback otherwise.
// With a status set, a request that Main answers with one of those statuses is sent to
// Fallback instead, and the client sees only Fallback's answer.
type Failover struct {
	main, fallback http.Handler
	status         StatusSet
}

// NewFailover builds a failover service.
func NewFailover(main, fallback http.Handler, status StatusSet) *Failover {
	return &Failover{main: main, fallback: fallback, status: status}
}

// Healthy reports whether either service can answer.
func (f *Failover) Healthy() bool { return healthy(f.main) || healthy(f.fallback) }

func (f *Failover) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !healthy(f.main) {
		f.fallback.ServeHTTP(w, r)
		return
	}
	if f.status.Empty() || isUpgrade(r) {
		f.main.ServeHTTP(w, r)
		return
	}
	f.serveDivertible(w, r)
}

// maxDivertBody is the largest request body held in memory so that Fallback can be sent the
// request after Main answered with a diverting status. A larger body, or one of unknown
// length, is streamed to Main alone, and Main's answer stands.
const maxDivertBody = 64 << 10

func (f *Failover) serveDivertible(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if r.ContentLength < 0 || r.ContentLength > maxDivertBody {
			f.main.ServeHTTP(w, r)
			return
		}
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			WriteError(w, http.StatusBadRequest) // the client's body broke off
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	dw := &divertWriter{rw: w, header: make(http.Header), status: &f.status}
	f.main.ServeHTTP(dw, r)
	if !dw.diverted {
		return
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.fallback.ServeHTTP(w, r)
}

// divertWriter holds back Main's response headers until their status is known: a diverting
// status is swallowed with its body, anything else is passed on as it comes.
type divertWriter struct {
	rw        http.ResponseWriter
	header    http.Header // Main's, until committed
	status    *StatusSet
	diverted  bool
	committed bool
}

func (d *divertWriter) Header() http.Header {
	if d.committed {
		return d.rw.Header()
	}
	return d.header
}

func (d *divertWriter) WriteHeader(code int) {
	switch {
	case d.committed:
		d.rw.WriteHeader(code)
	case d.diverted:
	case code >= 100 && code < 200 && code != http.StatusSwitchingProtocols:
		// An informational answer (103 Early Hints) goes through with its own headers.
		h := d.rw.Header()
		for k, v := range d.header {
			h[k] = v
		}
		d.rw.WriteHeader(code)
		for k := range d.header {
			delete(h, k)
		}
	case d.status.Has(code):
		d.diverted = true
	default:
		h := d.rw.Header()
		for k, v := range d.header {
			h[k] = append(h[k], v...)
		}
		d.committed = true
		d.rw.WriteHeader(code)
	}
}

func (d *divertWriter) Write(p []byte) (int, error) {
	if !d.committed && !d.diverted {
		d.WriteHeader(http.StatusOK)
	}
	if d.diverted {
		return len(p), nil
	}
	return d.rw.Write(p)
}

// FlushError lets the proxy flush a streamed response through the writer.
func (d *divertWriter) FlushError() error {
	if !d.committed && !d.diverted {
		d.WriteHeader(http.StatusOK)
	}
	if d.diverted {
		return nil
	}
	return http.NewResponseController(d.rw).Flush()
}

// Unwrap gives http.ResponseController the client's writer (deadlines).
func (d *divertWriter) Unwrap() http.ResponseWriter { return d.rw }

func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}
