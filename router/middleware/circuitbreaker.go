package middleware

import (
	"math/bits"
	"net/http"
	"sync"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// circuitBreaker stops sending requests to a backend that is failing, so it gets room to
// recover and clients get a fast answer instead of a slow error. It watches the responses of
// the last ten seconds; every checkPeriod it evaluates the expression over them, and when it
// holds, the breaker trips: for fallbackDuration every request is answered responseCode (503)
// without reaching the backend. Then, for recoveryDuration, a growing share of requests is
// let through (linearly from none to all); if the expression holds again it trips again,
// otherwise the breaker is back to normal.
//
// Functions, as in Traefik: NetworkErrorRatio() (share of 502 and 504 answers),
// ResponseCodeRatio(from, to, dividedByFrom, dividedByTo) (answers with a status in
// [from, to) divided by those in [dividedByFrom, dividedByTo)), and
// LatencyAtQuantileMS(q) (the q-th percentile of the time to serve, in milliseconds).
//
// The breaker's state belongs to the middleware: routers that name the same circuitBreaker
// share it.
var circuitBreakerType = Type{Name: "circuitBreaker", New: newCircuitBreaker}

type circuitBreakerOptions struct {
	Expression       string
	CheckPeriod      time.Duration
	FallbackDuration time.Duration
	RecoveryDuration time.Duration
	ResponseCode     int
}

var breakerFuncs = []exprFunc[*cbMetrics]{
	{name: "NetworkErrorRatio", arity: 0, num: func(m *cbMetrics, _ []float64) float64 { return m.networkErrorRatio() }},
	{name: "ResponseCodeRatio", arity: 4, num: func(m *cbMetrics, a []float64) float64 {
		return m.responseCodeRatio(int(a[0]), int(a[1]), int(a[2]), int(a[3]))
	}},
	{name: "LatencyAtQuantileMS", arity: 1, num: func(m *cbMetrics, a []float64) float64 { return m.latencyAtQuantileMS(a[0]) }},
}

func newCircuitBreaker(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o circuitBreakerOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Expression == "" {
		return nil, env.Invalid(opts, "expression", "expression is empty: say when to trip, like NetworkErrorRatio() > 0.5")
	}
	cond, err := compileExpr(o.Expression, breakerFuncs)
	if err != nil {
		return nil, env.Invalid(opts, "expression", "expression %q: %v", o.Expression, err)
	}
	b := &breaker{cond: cond, check: 100 * time.Millisecond, fallback: 10 * time.Second,
		recovery: 10 * time.Second, code: http.StatusServiceUnavailable, metrics: &cbMetrics{}, now: time.Now}
	for _, d := range []struct {
		key string
		in  time.Duration
		out *time.Duration
	}{{"checkPeriod", o.CheckPeriod, &b.check}, {"fallbackDuration", o.FallbackDuration, &b.fallback}, {"recoveryDuration", o.RecoveryDuration, &b.recovery}} {
		if d.in < 0 {
			return nil, env.Invalid(opts, d.key, "%s must not be negative", d.key)
		}
		if d.in > 0 {
			*d.out = d.in
		}
	}
	if o.ResponseCode != 0 {
		if o.ResponseCode < 200 || o.ResponseCode > 599 {
			return nil, env.Invalid(opts, "responseCode", "responseCode must be an HTTP status between 200 and 599")
		}
		b.code = o.ResponseCode
	}
	b.writers.New = func() any { return &recordWriter{} }
	return func(next http.Handler) http.Handler { return &breakerHandler{breaker: b, next: next} }, nil
}

type breakerState uint8

const (
	standby breakerState = iota
	tripped
	recovering
)

type breaker struct {
	cond                      func(*cbMetrics) bool
	check, fallback, recovery time.Duration
	code                      int
	writers                   sync.Pool
	now                       func() time.Time // time.Now; tests move it

	mu        sync.Mutex
	state     breakerState
	until     time.Time // end of the fallback or of the recovery
	nextCheck time.Time
	allowed   float64 // requests let through during recovery
	seen      float64 // requests during recovery
	metrics   *cbMetrics
}

type breakerHandler struct {
	*breaker
	next http.Handler
}

func (h *breakerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	if h.refuse(start) {
		upstream.WriteError(w, h.code)
		return
	}
	rec := h.writers.Get().(*recordWriter)
	*rec = recordWriter{rw: w}
	h.next.ServeHTTP(rec, r)
	status := rec.status
	*rec = recordWriter{}
	h.writers.Put(rec)
	if status == 0 {
		status = http.StatusOK
	}
	now := h.now()
	h.record(status, now.Sub(start), now)
}

// refuse reports whether the request gets the fallback answer.
func (b *breaker) refuse(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case tripped:
		if now.Before(b.until) {
			return true
		}
		b.state, b.until, b.allowed, b.seen = recovering, now.Add(b.recovery), 0, 0
		fallthrough
	case recovering:
		if !now.Before(b.until) {
			b.state = standby
			return false
		}
		share := 1 - float64(b.until.Sub(now))/float64(b.recovery)
		b.seen++
		if b.allowed < share*b.seen {
			b.allowed++
			return false
		}
		return true
	}
	return false
}

// record adds a response to the metrics and, once per checkPeriod, evaluates the expression.
func (b *breaker) record(status int, latency time.Duration, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.metrics.record(status, latency, now)
	if b.state == tripped || now.Before(b.nextCheck) {
		return
	}
	b.nextCheck = now.Add(b.check)
	if b.cond(b.metrics) {
		b.state, b.until = tripped, now.Add(b.fallback)
		b.metrics.reset()
	}
}

// recordWriter notes the status of a response on its way out.
type recordWriter struct {
	rw     http.ResponseWriter
	status int
}

func (w *recordWriter) Header() http.Header { return w.rw.Header() }

func (w *recordWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.rw.WriteHeader(code)
}

func (w *recordWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.rw.Write(p)
}

func (w *recordWriter) FlushError() error { return http.NewResponseController(w.rw).Flush() }

func (w *recordWriter) Flush() { _ = w.FlushError() }

func (w *recordWriter) Unwrap() http.ResponseWriter { return w.rw }

// cbMetrics counts responses in ten one-second buckets: statuses exactly, latencies in a
// log-linear histogram (about 3% precision from 64 µs to a minute).
type cbMetrics struct {
	buckets [cbWindow]cbBucket
}

const (
	cbWindow   = 10
	latLinear  = 64 // microseconds counted one by one
	latSub     = 32 // buckets per doubling above that
	latOctaves = 20
	latBuckets = latLinear + latOctaves*latSub
)

type cbBucket struct {
	second int64
	total  uint32
	netErr uint32
	codes  [600]uint32
	lat    [latBuckets]uint32
}

func (m *cbMetrics) record(status int, latency time.Duration, now time.Time) {
	sec := now.Unix()
	b := &m.buckets[sec%cbWindow]
	if b.second != sec {
		*b = cbBucket{second: sec}
	}
	b.total++
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout {
		b.netErr++
	}
	if status >= 0 && status < len(b.codes) {
		b.codes[status]++
	}
	b.lat[latIndex(uint64(max(latency.Microseconds(), 0)))]++
}

func (m *cbMetrics) reset() { *m = cbMetrics{} }

// live lists the buckets that belong to the last cbWindow seconds.
func (m *cbMetrics) live(fn func(b *cbBucket)) {
	newest := int64(0)
	for i := range m.buckets {
		newest = max(newest, m.buckets[i].second)
	}
	for i := range m.buckets {
		if b := &m.buckets[i]; b.total > 0 && newest-b.second < cbWindow {
			fn(b)
		}
	}
}

func (m *cbMetrics) networkErrorRatio() float64 {
	var errs, total uint32
	m.live(func(b *cbBucket) { errs += b.netErr; total += b.total })
	return ratio(errs, total)
}

func (m *cbMetrics) responseCodeRatio(from, to, dFrom, dTo int) float64 {
	var num, den uint32
	m.live(func(b *cbBucket) {
		for c := max(from, 0); c < min(to, len(b.codes)); c++ {
			num += b.codes[c]
		}
		for c := max(dFrom, 0); c < min(dTo, len(b.codes)); c++ {
			den += b.codes[c]
		}
	})
	return ratio(num, den)
}

func (m *cbMetrics) latencyAtQuantileMS(q float64) float64 {
	var hist [latBuckets]uint32
	var total uint32
	m.live(func(b *cbBucket) {
		for i, n := range b.lat {
			hist[i] += n
		}
		total += b.total
	})
	if total == 0 {
		return 0
	}
	want := uint32(float64(total) * q / 100)
	var seen uint32
	for i, n := range hist {
		if seen += n; seen > want || (seen == total && n > 0) {
			return float64(latValue(i)) / 1000
		}
	}
	return 0
}

func ratio(a, b uint32) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func latIndex(us uint64) int {
	if us < latLinear {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us >= 64, so e >= 1, and us>>e is in [32, 63]
	i := latLinear + (e-1)*latSub + int(us>>uint(e)) - latSub
	return min(i, latBuckets-1)
}

// latValue is the middle of bucket i, in microseconds.
func latValue(i int) uint64 {
	if i < latLinear {
		return uint64(i)
	}
	e := (i-latLinear)/latSub + 1
	m := uint64((i-latLinear)%latSub + latSub)
	return m<<uint(e) + (uint64(1)<<uint(e))/2
}
