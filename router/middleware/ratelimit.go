package middleware

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// rateLimit is a token bucket per source: average requests per period refill it, burst is
// its size. Like Traefik, a request that arrives slightly early is delayed (by at most half
// the interval between two requests) instead of refused, which keeps well-behaved clients
// that send at exactly the rate from seeing spurious 429s; anything earlier is answered 429
// with Retry-After.
var rateLimitType = Type{Name: "rateLimit", New: newRateLimit}

type rateLimitOptions struct {
	Average         int64
	Period          time.Duration
	Burst           *int64
	SourceCriterion *sourceCriterionOptions
}

// maxSources bounds the memory a flood of distinct client addresses can take (see sweep).
const maxSources = 65536

func newRateLimit(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o rateLimitOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Average < 0 {
		return nil, env.Invalid(opts, "average", "average must be 0 (no limit) or more, not %d", o.Average)
	}
	if o.Period < 0 {
		return nil, env.Invalid(opts, "period", "period must be positive")
	}
	if o.Period == 0 {
		o.Period = time.Second
	}
	burst := int64(1)
	if o.Burst != nil {
		if *o.Burst < 0 {
			return nil, env.Invalid(opts, "burst", "burst must be 1 or more, not %d", *o.Burst)
		}
		burst = max(*o.Burst, 1)
	}
	if burst > math.MaxInt32 {
		return nil, env.Invalid(opts, "burst", "burst is too large")
	}
	crit, err := newSourceCriterion(env, opts, o.SourceCriterion, false)
	if err != nil {
		return nil, err
	}
	if o.Average == 0 {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	perSecond := float64(o.Average) * float64(time.Second) / float64(o.Period)
	maxDelay := 500 * time.Millisecond
	if perSecond >= 1 {
		maxDelay = time.Duration(float64(time.Second) / (2 * perSecond))
	}
	// A bucket untouched for this long is full again, so forgetting it changes nothing.
	idle := time.Duration(float64(burst)/perSecond*float64(time.Second)) + time.Second
	l := &limiter{
		crit: crit, limit: rate.Limit(perSecond), burst: int(burst), maxDelay: maxDelay, idle: idle,
		buckets: make(map[sourceKey]*bucket), sweepAt: 1024,
	}
	return func(next http.Handler) http.Handler { return &rateLimitHandler{limiter: l, next: next} }, nil
}

type limiter struct {
	crit     *sourceCriterion
	limit    rate.Limit
	burst    int
	maxDelay time.Duration
	idle     time.Duration

	mu      sync.Mutex
	buckets map[sourceKey]*bucket
	sweepAt int
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen int64 // unix nanoseconds, under limiter.mu
}

func (l *limiter) bucket(k sourceKey, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		if k.s != "" {
			// The key may point into the request's memory; keep a copy of our own.
			k.s = string([]byte(k.s))
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[k] = b
	}
	b.lastSeen = now.UnixNano()
	return b.lim
}

// sweep drops idle buckets. It runs when the map has doubled since the last sweep, so its
// cost is spread over the insertions that made it necessary. When a flood of distinct
// sources keeps the map full of live buckets, a quarter of them is dropped at once (those
// clients start again with a full bucket), so that the next sweep is again many insertions
// away and memory stays bounded.
func (l *limiter) sweep(now time.Time) {
	cutoff := now.Add(-l.idle).UnixNano()
	for k, b := range l.buckets {
		if b.lastSeen < cutoff {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxSources*7/8 {
		for k := range l.buckets {
			if len(l.buckets) <= maxSources*3/4 {
				break
			}
			delete(l.buckets, k)
		}
	}
	l.sweepAt = min(max(2*len(l.buckets), 1024), maxSources)
}

type rateLimitHandler struct {
	*limiter
	next http.Handler
}

func (h *rateLimitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := h.crit.key(r)
	now := time.Now()
	lim := h.bucket(k, now)
	if lim.AllowN(now, 1) {
		h.next.ServeHTTP(w, r)
		return
	}
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		tooMany(w, time.Second)
		return
	}
	delay := res.DelayFrom(now)
	if delay > h.maxDelay {
		res.CancelAt(now)
		tooMany(w, delay)
		return
	}
	t := time.NewTimer(delay)
	select {
	case <-t.C:
		h.next.ServeHTTP(w, r)
	case <-r.Context().Done():
		t.Stop()
		res.Cancel()
	}
}

func tooMany(w http.ResponseWriter, delay time.Duration) {
	h := w.Header()
	h["Retry-After"] = []string{strconv.Itoa(int(math.Ceil(delay.Seconds())))}
	h["X-Retry-In"] = []string{delay.String()}
	upstream.WriteError(w, http.StatusTooManyRequests)
}
