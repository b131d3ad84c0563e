// Package testbackend is the HTTP backend that wharf's tests put behind the proxy: it says
// who it is and what it received, so a test can assert on routing, header rewriting and
// load balancing from the response alone. cmd/testbackend wraps it in a static binary that
// runs in a FROM scratch image.
//
// Endpoints:
//
//	GET  /health        200 "ok", or 503 after POST /health/fail (until POST /health/ok)
//	POST /health/fail   make /health fail; POST /health/ok makes it pass again
//	GET  /ws            WebSocket echo
//	GET  /sse?n=5&interval=50ms   n server-sent events, one per interval
//	*    anything else  an Echo as JSON
package testbackend

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Echo is the JSON answer to any ordinary request.
type Echo struct {
	Name       string      `json:"name"`
	Method     string      `json:"method"`
	Host       string      `json:"host"`
	Path       string      `json:"path"`
	RawQuery   string      `json:"rawQuery,omitempty"`
	Proto      string      `json:"proto"`
	RemoteAddr string      `json:"remoteAddr"`
	Headers    http.Header `json:"headers"`
}

// Backend is one named backend. The zero value is not usable; call New.
type Backend struct {
	name    string
	failing atomic.Bool
	up      websocket.Upgrader
}

// New returns a healthy backend that answers as name.
func New(name string) *Backend {
	return &Backend{name: name, up: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
}

// SetHealthy flips what /health answers.
func (b *Backend) SetHealthy(ok bool) { b.failing.Store(!ok) }

func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		if b.failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	case "/health/fail", "/health/ok":
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		b.SetHealthy(r.URL.Path == "/health/ok")
		w.WriteHeader(http.StatusNoContent)
	case "/ws":
		b.echoWebSocket(w, r)
	case "/sse":
		b.events(w, r)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", b.name)
		json.NewEncoder(w).Encode(Echo{Name: b.name, Method: r.Method, Host: r.Host, Path: r.URL.Path,
			RawQuery: r.URL.RawQuery, Proto: r.Proto, RemoteAddr: r.RemoteAddr, Headers: r.Header})
	}
}

// echoWebSocket sends every message back; the first message it sends is the backend's name,
// so a test knows which replica it reached.
func (b *Backend) echoWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(b.name)); err != nil {
		return
	}
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

// events streams n server-sent events, flushing each, so a test can see that the proxy
// forwards them as they come rather than when the response ends.
func (b *Backend) events(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 {
		n = 5
	}
	interval, err := time.ParseDuration(r.URL.Query().Get("interval"))
	if err != nil || interval < 0 {
		interval = 50 * time.Millisecond
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	t := time.NewTicker(max(interval, time.Millisecond))
	defer t.Stop()
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "id: %d\ndata: %s %d\n\n", i, b.name, i)
		fl.Flush()
		if i == n-1 {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
