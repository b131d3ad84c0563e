package upstream

import (
	"net/http"
	"sync"
)

// Healther is a service that knows whether it can take a request now. Balancers and the
// services built of services implement it, so that a parent skips a child with no healthy
// server instead of sending it requests that can only fail.
type Healther interface {
	Healthy() bool
}

func healthy(h http.Handler) bool {
	if hh, ok := h.(Healther); ok {
		return hh.Healthy()
	}
	return true
}

// WeightedTarget is one service of a weighted service.
type WeightedTarget struct {
	Name    string // qualified: the sticky cookie names the target by a hash of it
	Handler http.Handler
	Weight  int // 0: no new traffic (sticky clients stay)
}

// Weighted splits traffic between services by weight (canary releases, blue-green), with
// the same smooth round-robin as a balancer: over any sum(weights) requests, each service gets
// exactly its share. A service with no healthy server is skipped while it has none.
type Weighted struct {
	targets []WeightedTarget
	sticky  *sticky

	mu      sync.Mutex
	current []int
}

// NewWeighted builds a weighted service. service names it for the default cookie name.
func NewWeighted(service string, targets []WeightedTarget, cookie *CookieConfig) (*Weighted, error) {
	w := &Weighted{targets: targets, current: make([]int, len(targets))}
	if cookie != nil {
		keys := make([]string, len(targets))
		for i, t := range targets {
			keys[i] = t.Name
		}
		st, err := newSticky(*cookie, service, keys)
		if err != nil {
			return nil, err
		}
		w.sticky = st
	}
	return w, nil
}

func (w *Weighted) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if w.sticky != nil {
		if i := w.sticky.lookup(r.Header); i >= 0 && healthy(w.targets[i].Handler) {
			w.targets[i].Handler.ServeHTTP(rw, r)
			return
		}
	}
	i := w.next()
	if i < 0 {
		noServer(rw, r)
		return
	}
	if w.sticky != nil {
		// Before the target answers: its own headers are added after this one.
		h := rw.Header()
		h["Set-Cookie"] = append(h["Set-Cookie"], w.sticky.setCookie[i])
	}
	w.targets[i].Handler.ServeHTTP(rw, r)
}

func (w *Weighted) next() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	best, total := -1, 0
	for i, t := range w.targets {
		if t.Weight <= 0 || !healthy(t.Handler) {
			continue
		}
		w.current[i] += t.Weight
		total += t.Weight
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	if best >= 0 {
		w.current[best] -= total
	}
	return best
}

// Healthy reports whether some service with a weight has a healthy server.
func (w *Weighted) Healthy() bool {
	for _, t := range w.targets {
		if t.Weight > 0 && healthy(t.Handler) {
			return true
		}
	}
	return false
}
