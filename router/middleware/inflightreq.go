package middleware

import (
	"net/http"
	"sync"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// inFlightReq caps the requests of one source that are being served at the same time;
// one more is answered 429 at once. Like Traefik, requests are grouped by Host unless a
// sourceCriterion says otherwise.
var inFlightReqType = Type{Name: "inFlightReq", New: newInFlightReq}

type inFlightReqOptions struct {
	Amount          int64
	SourceCriterion *sourceCriterionOptions
}

func newInFlightReq(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o inFlightReqOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Amount <= 0 {
		return nil, env.Invalid(opts, "amount", "amount must be 1 or more: the number of requests of one source served at once")
	}
	crit, err := newSourceCriterion(env, opts, o.SourceCriterion, true)
	if err != nil {
		return nil, err
	}
	c := &inFlight{crit: crit, amount: o.Amount, counts: make(map[sourceKey]int64)}
	return func(next http.Handler) http.Handler { return &inFlightHandler{inFlight: c, next: next} }, nil
}

// inFlight counts per source. A source's entry is removed when its count drops to zero, so
// the map only holds sources with requests in progress.
type inFlight struct {
	crit   *sourceCriterion
	amount int64
	mu     sync.Mutex
	counts map[sourceKey]int64
}

func (c *inFlight) acquire(k sourceKey) (sourceKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.counts[k]
	if n >= c.amount {
		return k, false
	}
	if !ok && k.s != "" {
		k.s = string([]byte(k.s)) // the key may point into the request's memory
	}
	c.counts[k] = n + 1
	return k, true
}

func (c *inFlight) release(k sourceKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.counts[k] - 1; n > 0 {
		c.counts[k] = n
	} else {
		delete(c.counts, k)
	}
}

type inFlightHandler struct {
	*inFlight
	next http.Handler
}

func (h *inFlightHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := h.crit.key(r)
	k, ok := h.acquire(k)
	if !ok {
		upstream.WriteError(w, http.StatusTooManyRequests)
		return
	}
	defer h.release(k)
	h.next.ServeHTTP(w, r)
}
