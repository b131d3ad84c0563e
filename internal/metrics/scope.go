package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// family is the four request metrics of one scope kind (entrypoint, router or service):
// Traefik's requests_total, request_duration_seconds, requests_bytes_total and
// responses_bytes_total, with the labels code, method and protocol first.
type family struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	reqBytes  *prometheus.CounterVec
	respBytes *prometheus.CounterVec
	key       string // the label that names the scope ("entrypoint", "router", "service")
}

func newFamily(scope string, buckets []float64, labels ...string) *family {
	names := append([]string{"code", "method", "protocol"}, labels...)
	ns := "wharf_" + scope + "_"
	return &family{
		key: labels[0],
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "requests_total",
			Help: "How many HTTP requests were answered, by status code, method and protocol."}, names),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "request_duration_seconds",
			Help: "How long HTTP requests took to answer, in seconds.", Buckets: buckets}, names),
		reqBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "requests_bytes_total",
			Help: "Request body bytes received."}, names),
		respBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "responses_bytes_total",
			Help: "Response body bytes sent."}, names),
	}
}

func (f *family) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.requests, f.duration, f.reqBytes, f.respBytes}
}

// forget removes every series of one scope (a router that is gone), so a long-running
// wharf does not export the routers of last week.
func (f *family) forget(name string) {
	l := prometheus.Labels{f.key: name}
	f.requests.DeletePartialMatch(l)
	f.duration.DeletePartialMatch(l)
	f.reqBytes.DeletePartialMatch(l)
	f.respBytes.DeletePartialMatch(l)
}

// Scope is the handle of one entrypoint, router or service, resolved once (when a listener
// starts, when a route is compiled). Observe costs a map read and four atomic adds: the label
// values of each status/method/protocol combination are looked up in the Prometheus vectors
// only the first time that combination is seen. A nil *Scope observes nothing.
type Scope struct {
	fam    *family
	labels []string // the scope's own label values, after code, method and protocol
	// series is copied on write: requests read it without a lock, and the few distinct keys
	// a scope ever sees are added under mu.
	series atomic.Pointer[map[uint32]*series]
	mu     sync.Mutex
}

type series struct {
	requests  prometheus.Counter
	duration  prometheus.Observer
	reqBytes  prometheus.Counter
	respBytes prometheus.Counter
}

func newScope(f *family, labels ...string) *Scope {
	s := &Scope{fam: f, labels: labels}
	m := map[uint32]*series{}
	s.series.Store(&m)
	return s
}

// Observe records one answered request.
func (s *Scope) Observe(code int, m Method, p Protocol, d time.Duration, reqBytes, respBytes int64) {
	if s == nil {
		return
	}
	if code < 0 || code > 999 {
		code = 0
	}
	key := uint32(code)<<8 | uint32(m)<<4 | uint32(p)
	x := (*s.series.Load())[key]
	if x == nil {
		x = s.add(key, code, m, p)
	}
	x.requests.Inc()
	x.duration.Observe(d.Seconds())
	if reqBytes > 0 {
		x.reqBytes.Add(float64(reqBytes))
	}
	if respBytes > 0 {
		x.respBytes.Add(float64(respBytes))
	}
}

func (s *Scope) add(key uint32, code int, m Method, p Protocol) *series {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.series.Load()
	if x := old[key]; x != nil {
		return x
	}
	lv := append([]string{strconv.Itoa(code), m.String(), p.String()}, s.labels...)
	x := &series{
		requests:  s.fam.requests.WithLabelValues(lv...),
		duration:  s.fam.duration.WithLabelValues(lv...),
		reqBytes:  s.fam.reqBytes.WithLabelValues(lv...),
		respBytes: s.fam.respBytes.WithLabelValues(lv...),
	}
	next := make(map[uint32]*series, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = x
	s.series.Store(&next)
	return x
}

// Method is a request method as a metric label. Methods outside the standard set are
// counted as "OTHER": the method is chosen by the client, and a label the client chooses
// freely would let anyone grow the metrics without bound.
type Method uint8

// The methods wharf labels by name.
const (
	MethodOther Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodOptions
	MethodConnect
	MethodTrace
)

var methodNames = [...]string{"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return methodNames[0]
}

// MethodOf maps a request method to its label.
func MethodOf(method string) Method {
	switch method {
	case http.MethodGet:
		return MethodGet
	case http.MethodHead:
		return MethodHead
	case http.MethodPost:
		return MethodPost
	case http.MethodPut:
		return MethodPut
	case http.MethodPatch:
		return MethodPatch
	case http.MethodDelete:
		return MethodDelete
	case http.MethodOptions:
		return MethodOptions
	case http.MethodConnect:
		return MethodConnect
	case http.MethodTrace:
		return MethodTrace
	}
	return MethodOther
}

// Protocol is Traefik's protocol label: http, websocket or sse.
type Protocol uint8

// The protocols.
const (
	ProtocolHTTP Protocol = iota
	ProtocolWebSocket
	ProtocolSSE
)

func (p Protocol) String() string {
	switch p {
	case ProtocolWebSocket:
		return "websocket"
	case ProtocolSSE:
		return "sse"
	}
	return "http"
}

// ProtocolOf tells a WebSocket upgrade and a server-sent events request from plain HTTP, the
// way Traefik labels them. It reads the headers without canonicalising or allocating.
func ProtocolOf(r *http.Request) Protocol {
	for _, v := range r.Header["Upgrade"] {
		if equalFoldASCII(v, "websocket") {
			return ProtocolWebSocket
		}
	}
	for _, v := range r.Header["Accept"] {
		if equalFoldASCII(v, "text/event-stream") {
			return ProtocolSSE
		}
	}
	return ProtocolHTTP
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
