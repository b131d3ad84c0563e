package upstream

import (
	"net/http"
	"sync"
)

// WRR is smooth weighted round-robin, the algorithm nginx uses: over any window of
// sum(weights) picks, each server is chosen exactly weight times, and picks of one server
// are spread out instead of bunched (weights 5,1,1 give a a b a c a a, not a a a a a b c).
type WRR struct {
	mu      sync.Mutex
	servers []*wrrServer
}

type wrrServer struct {
	*Server
	weight, current int
}

// NewWRR balances over servers; a weight below 1 counts as 1.
func NewWRR(servers []*Server) *WRR {
	b := &WRR{servers: make([]*wrrServer, len(servers))}
	for i, s := range servers {
		w := s.Weight
		if w < 1 {
			w = 1
		}
		b.servers[i] = &wrrServer{Server: s, weight: w}
	}
	return b
}

// Next returns the next server, or nil when there is none.
func (b *WRR) Next() *Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	var best *wrrServer
	total := 0
	for _, s := range b.servers {
		s.current += s.weight
		total += s.weight
		if best == nil || s.current > best.current {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	best.current -= total
	return best.Server
}

// Servers lists the balanced servers in configuration order.
func (b *WRR) Servers() []*Server {
	out := make([]*Server, len(b.servers))
	for i, s := range b.servers {
		out[i] = s.Server
	}
	return out
}

// ServeHTTP forwards to the next server, or answers 503 when the service has none.
func (b *WRR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := b.Next()
	if s == nil {
		WriteError(w, http.StatusServiceUnavailable)
		return
	}
	s.ServeHTTP(w, r)
}
