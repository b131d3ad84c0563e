package middleware

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// buffering reads the whole request before the backend sees any of it, and the whole
// response before the client does: the backend gets a Content-Length instead of a chunked
// upload and is never held up by a slow client; a body over its limit is refused (413 for a
// request, 500 for a response) before anything is sent. Up to memRequestBodyBytes /
// memResponseBodyBytes stay in memory; the rest goes to a temporary file that is removed
// when the request ends.
//
// retryExpression (Attempts(), ResponseCode(), IsNetworkError()) sends the buffered request
// again while it holds, at most maxBufferAttempts times in all; like retry, it never resends
// a request that is not idempotent once the backend may have received it. WebSocket upgrades
// cannot be buffered and pass through untouched.
var bufferingType = Type{Name: "buffering", New: newBuffering}

type bufferingOptions struct {
	MaxRequestBodyBytes  int64
	MemRequestBodyBytes  int64
	MaxResponseBodyBytes int64
	MemResponseBodyBytes int64
	RetryExpression      string
}

const (
	defaultMemBuffer  = 1 << 20
	maxBufferAttempts = 10
)

// bufferAttempt is what a retryExpression is evaluated on.
type bufferAttempt struct {
	attempts int
	status   int
}

var bufferFuncs = []exprFunc[*bufferAttempt]{
	{name: "Attempts", arity: 0, num: func(a *bufferAttempt, _ []float64) float64 { return float64(a.attempts) }},
	{name: "ResponseCode", arity: 0, num: func(a *bufferAttempt, _ []float64) float64 { return float64(a.status) }},
	{name: "IsNetworkError", arity: 0, pred: func(a *bufferAttempt, _ []float64) bool {
		return a.status == http.StatusBadGateway || a.status == http.StatusGatewayTimeout
	}},
}

type buffering struct {
	maxReq, memReq, maxResp, memResp int64
	retry                            func(*bufferAttempt) bool
}

func newBuffering(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o bufferingOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	b := &buffering{maxReq: o.MaxRequestBodyBytes, memReq: o.MemRequestBodyBytes, maxResp: o.MaxResponseBodyBytes, memResp: o.MemResponseBodyBytes}
	for _, v := range []struct {
		key string
		val *int64
		def int64
	}{{"maxRequestBodyBytes", &b.maxReq, 0}, {"memRequestBodyBytes", &b.memReq, defaultMemBuffer},
		{"maxResponseBodyBytes", &b.maxResp, 0}, {"memResponseBodyBytes", &b.memResp, defaultMemBuffer}} {
		if *v.val < 0 {
			return nil, env.Invalid(opts, v.key, "%s must be 0 or more", v.key)
		}
		if *v.val == 0 {
			*v.val = v.def
		}
	}
	if o.RetryExpression != "" {
		cond, err := compileExpr(o.RetryExpression, bufferFuncs)
		if err != nil {
			return nil, env.Invalid(opts, "retryExpression", "retryExpression %q: %v", o.RetryExpression, err)
		}
		b.retry = cond
	}
	return func(next http.Handler) http.Handler { return &bufferingHandler{buffering: b, next: next} }, nil
}

type bufferingHandler struct {
	*buffering
	next http.Handler
}

func (h *bufferingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.Header["Upgrade"]) > 0 {
		h.next.ServeHTTP(w, r)
		return
	}
	var body *spool
	if r.Body != nil && r.Body != http.NoBody {
		var tooLarge bool
		var err error
		body, tooLarge, err = h.readRequest(r)
		defer body.Close()
		if tooLarge || err != nil {
			status := http.StatusRequestEntityTooLarge
			if err != nil {
				status = http.StatusBadRequest
			}
			upstream.WriteError(w, status)
			return
		}
	}
	for attempt := 1; ; attempt++ {
		bw := &bufferWriter{header: make(http.Header), body: &spool{memMax: h.memResp}, max: h.maxResp}
		tr := &attemptTrace{}
		ar := r.Clone(httptrace.WithClientTrace(r.Context(), tr.clientTrace()))
		if body != nil {
			ar.Body, ar.ContentLength = body.reader(), body.size
			ar.TransferEncoding = nil
		}
		h.next.ServeHTTP(bw, ar)
		if bw.status == 0 {
			bw.status = http.StatusOK
		}
		if h.retry != nil && attempt < maxBufferAttempts && r.Context().Err() == nil &&
			(idempotent(r) || !tr.wroteHeaders.Load()) && h.retry(&bufferAttempt{attempts: attempt, status: bw.status}) {
			bw.body.Close()
			continue
		}
		bw.send(w)
		return
	}
}

// readRequest reads the request body into a spool, refusing more than maxRequestBodyBytes.
func (h *bufferingHandler) readRequest(r *http.Request) (*spool, bool, error) {
	s := &spool{memMax: h.memReq}
	src := io.Reader(r.Body)
	if h.maxReq > 0 {
		if r.ContentLength > h.maxReq {
			return s, true, nil
		}
		src = io.LimitReader(r.Body, h.maxReq+1)
	}
	n, err := io.Copy(s, src)
	if err != nil {
		return s, false, err
	}
	return s, h.maxReq > 0 && n > h.maxReq, nil
}

// bufferWriter holds a whole response.
type bufferWriter struct {
	header   http.Header
	status   int
	body     *spool
	max      int64
	overflow bool
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.overflow {
		return len(p), nil
	}
	if w.max > 0 && w.body.size+int64(len(p)) > w.max {
		w.overflow = true
		return len(p), nil
	}
	return w.body.Write(p)
}

// FlushError is a no-op: holding the response is the point.
func (w *bufferWriter) FlushError() error { return nil }

func (w *bufferWriter) send(dst http.ResponseWriter) {
	defer w.body.Close()
	if w.overflow {
		upstream.WriteError(dst, http.StatusInternalServerError)
		return
	}
	h := dst.Header()
	for k, v := range w.header {
		h[k] = append(h[k], v...)
	}
	delete(h, "Transfer-Encoding")
	if w.status != http.StatusNoContent && w.status != http.StatusNotModified {
		h["Content-Length"] = []string{strconv.FormatInt(w.body.size, 10)}
	}
	dst.WriteHeader(w.status)
	rd := w.body.reader()
	_, _ = io.Copy(dst, rd)
}

// spool keeps bytes in memory up to memMax and in a temporary file beyond.
type spool struct {
	memMax int64
	mem    []byte
	file   *os.File
	size   int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && int64(len(s.mem)+len(p)) <= s.memMax {
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "wharf-buffer-*")
		if err != nil {
			return 0, err
		}
		s.file = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, err
		}
		s.mem = nil
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	return n, err
}

// reader reads the spool from the start; each call gives an independent reader.
func (s *spool) reader() io.ReadCloser {
	if s.file != nil {
		return io.NopCloser(io.NewSectionReader(s.file, 0, s.size))
	}
	return io.NopCloser(bytes.NewReader(s.mem))
}

func (s *spool) Close() error {
	if s == nil || s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	_ = os.Remove(name)
	s.file = nil
	return err
}
