package middleware

import "net/http"

// withholder decides, from a response's status, whether the response is withheld (dropped,
// so that the middleware can answer instead) or passed on.
type withholder interface {
	withhold(code int) bool
}

// holdWriter keeps a response's header until its status is known, then either passes the
// response on, header and body, or withholds it whole. The errors middleware withholds the
// statuses it replaces with a page; retry withholds the forwarder's own error for a request
// it can try again. Informational responses (1xx but 101) always pass, and the header is
// kept for the final response.
type holdWriter struct {
	rw       http.ResponseWriter
	header   http.Header // the held response's, until passed on
	decide   withholder
	status   int  // the withheld status
	withheld bool // the response was dropped
	passed   bool // the response went to rw
}

func (w *holdWriter) Header() http.Header {
	if w.passed {
		return w.rw.Header()
	}
	return w.header
}

func (w *holdWriter) WriteHeader(code int) {
	switch {
	case w.passed:
		w.rw.WriteHeader(code)
	case w.withheld:
	case code < 200 && code != http.StatusSwitchingProtocols:
		h := w.rw.Header()
		for k, v := range w.header {
			h[k] = append(h[k], v...)
		}
		w.rw.WriteHeader(code)
		for k := range w.header {
			delete(h, k)
		}
	case w.decide.withhold(code):
		w.withheld, w.status = true, code
	default:
		h := w.rw.Header()
		for k, v := range w.header {
			h[k] = append(h[k], v...)
		}
		w.passed = true
		w.rw.WriteHeader(code)
	}
}

func (w *holdWriter) Write(p []byte) (int, error) {
	if !w.passed && !w.withheld {
		w.WriteHeader(http.StatusOK)
	}
	if w.withheld {
		return len(p), nil // whoever withheld it answers instead
	}
	return w.rw.Write(p)
}

func (w *holdWriter) FlushError() error {
	if !w.passed && !w.withheld {
		w.WriteHeader(http.StatusOK)
	}
	if w.withheld {
		return nil
	}
	return http.NewResponseController(w.rw).Flush()
}

func (w *holdWriter) Flush() { _ = w.FlushError() }

func (w *holdWriter) Unwrap() http.ResponseWriter { return w.rw }
