package middleware

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// errors replaces the body of responses whose status is in a range with a page fetched from
// another service (GET query, where {status}, {originalStatus} and {url} are filled in).
// The client still gets the original status (or the one statusRewrites maps it to), so an
// error page never turns a failure into a 200. The backend's headers and body are dropped;
// the page's are sent.
var errorsType = Type{Name: "errors", New: newErrorPages}

type errorsOptions struct {
	Status         []string
	StatusRewrites map[string]int
	Service        string
	Query          string
}

type statusRewrite struct {
	from statusRanges
	to   int
}

type errorPages struct {
	status   statusRanges
	rewrites []statusRewrite
	service  http.Handler
	query    string
	pool     sync.Pool
}

func newErrorPages(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o errorsOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	status, err := parseStatusRanges(o.Status)
	if err != nil {
		return nil, env.Invalid(opts, "status", "%v", err)
	}
	if len(status) == 0 {
		return nil, env.Invalid(opts, "status", "status is empty: give the statuses to replace, like 500-599,404")
	}
	if o.Service == "" {
		return nil, env.Invalid(opts, "service", "service is empty: name the service that serves the error pages")
	}
	if env.Service == nil {
		return nil, env.Invalid(opts, "service", "services cannot be reached here")
	}
	svcName := env.Qualify(o.Service)
	svc, err := env.Service(svcName)
	if err != nil {
		return nil, env.Invalid(opts, "service", "service %q: %v", svcName, err)
	}
	e := &errorPages{status: status, service: svc, query: o.Query}
	if e.query == "" {
		e.query = "/"
	}
	if e.query[0] != '/' {
		return nil, env.Invalid(opts, "query", "query must be a path starting with /, like /{status}.html")
	}
	for _, k := range sortedKeys(o.StatusRewrites) {
		from, err := parseStatusRanges([]string{k})
		to := o.StatusRewrites[k]
		if err != nil || to < 100 || to > 599 {
			return nil, env.Invalid(opts, "statusRewrites."+k, "write statusRewrites as status-or-range: new status, like 418: 404 or 500-503: 503")
		}
		e.rewrites = append(e.rewrites, statusRewrite{from: from, to: to})
	}
	e.pool.New = func() any { return &holdWriter{header: make(http.Header)} }
	return func(next http.Handler) http.Handler { return &errorsHandler{errorPages: e, next: next} }, nil
}

type errorsHandler struct {
	*errorPages
	next http.Handler
}

func (h *errorsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ew := h.pool.Get().(*holdWriter)
	ew.rw, ew.decide = w, &h.status
	// {url} is the request as it arrived here, before later middlewares rewrite it; a copy
	// of the URL struct costs nothing until an error page is needed.
	orig := *r.URL
	h.next.ServeHTTP(ew, r)
	caught, status := ew.withheld, ew.status
	clear(ew.header)
	*ew = holdWriter{header: ew.header}
	h.pool.Put(ew)
	if caught {
		h.servePage(w, r, status, orig.RequestURI())
	}
}

func (h *errorsHandler) servePage(w http.ResponseWriter, r *http.Request, original int, uri string) {
	status := original
	for _, rw := range h.rewrites {
		if rw.from.contains(original) {
			status = rw.to
			break
		}
	}
	target := strings.NewReplacer(
		"{status}", strconv.Itoa(status),
		"{originalStatus}", strconv.Itoa(original),
		"{url}", url.QueryEscape(requestScheme(r)+"://"+r.Host+uri),
	).Replace(h.query)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		upstream.WriteError(w, status)
		return
	}
	pr := r.Clone(r.Context())
	pr.Method = http.MethodGet
	pr.URL = u
	pr.RequestURI = u.RequestURI()
	pr.Body, pr.ContentLength, pr.GetBody = http.NoBody, 0, nil
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Content-Type", "Expect", "If-Match",
		"If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(pr.Header, k) // a conditional or partial page would not be an error page
	}
	sw := &statusWriter{ResponseWriter: w, status: status}
	h.service.ServeHTTP(sw, pr)
	if !sw.wrote {
		upstream.WriteError(sw, status) // the page service answered nothing
	}
}

// statusWriter sends a response with a fixed status, whatever the handler writes.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if code < 200 || w.wrote {
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(w.status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
