package router

import (
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wharfproxy/wharf/router/rule"
	"github.com/wharfproxy/wharf/router/upstream"
)

// Switcher holds the table being served. It is never empty: it starts with a table that
// routes nothing (every request answers 404) until the first configuration arrives.
type Switcher struct {
	cur atomic.Pointer[Table]
}

// NewSwitcher returns a switcher serving an empty table for n entrypoints.
func NewSwitcher(n int) *Switcher {
	s := &Switcher{}
	s.cur.Store(&Table{eps: make([]epRoutes, n)})
	return s
}

// Load returns the table being served.
func (s *Switcher) Load() *Table { return s.cur.Load() }

// Swap serves t from now on. Requests already running finish on the previous table, whose
// background work is stopped.
func (s *Switcher) Swap(t *Table) {
	if old := s.cur.Swap(t); old != nil && old != t {
		old.Close()
	}
}

// Handler serves entrypoint number ep (its index in Options.EntryPoints) from whatever table
// is current when each request arrives.
func (s *Switcher) Handler(ep int) http.Handler { return &epHandler{sw: s, ep: ep} }

type epHandler struct {
	sw *Switcher
	ep int
}

func (h *epHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.sw.cur.Load()
	escaped := r.URL.EscapedPath()
	canonical, err := NormalizePath(escaped)
	if err != nil {
		upstream.WriteError(w, http.StatusBadRequest)
		return
	}
	if canonical != escaped {
		setPath(r.URL, canonical)
		r.RequestURI = r.URL.RequestURI()
	}
	rq := rule.Request{
		Host:     rule.CanonicalHost(r.Host),
		Path:     r.URL.Path,
		Method:   r.Method,
		Header:   r.Header,
		RawQuery: r.URL.RawQuery,
		ClientIP: clientIP(r.RemoteAddr),
	}
	rt := t.match(h.ep, r.TLS != nil, &rq)
	if rt == nil {
		upstream.WriteError(w, http.StatusNotFound)
		return
	}
	// Content-Type is never guessed from the body (Traefik v3 does the same): a key with no
	// value stops net/http from sniffing, and writes nothing when the backend sent none.
	if h := w.Header(); h["Content-Type"] == nil {
		h["Content-Type"] = nil
	}
	if isUpgrade(r) {
		// The read timeout bounds how long a client may take to send a request; an
		// upgraded connection (WebSocket) lives on past it.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	rt.handler.ServeHTTP(w, r)
}

// match returns the first route of entrypoint ep that matches rq, or nil.
func (t *Table) match(ep int, secure bool, rq *rule.Request) *route {
	if ep < 0 || ep >= len(t.eps) {
		return nil
	}
	idx := &t.eps[ep].plain
	if secure {
		idx = &t.eps[ep].secure
	}
	for _, rt := range idx.candidates(rq.Host) {
		if rt.rule.Match(rq) {
			return rt
		}
	}
	return nil
}

func clientIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && headerHasToken(r.Header["Connection"], "upgrade")
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
