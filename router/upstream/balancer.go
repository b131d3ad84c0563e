package upstream

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Strategy is how a balancer chooses among its healthy servers.
type Strategy uint8

// The strategies. Names are Traefik's where Traefik has one (wrr, p2c, hrw).
const (
	// StrategyWRR is smooth weighted round-robin, the algorithm nginx uses: over any window
	// of sum(weights) picks, each server is chosen exactly weight times, and picks of one
	// server are spread out instead of bunched (weights 5,1,1 give a a b a c a a).
	StrategyWRR Strategy = iota
	// StrategyP2C is the power of two random choices: two random servers, the one with
	// fewer requests in flight (relative to its weight) wins. It avoids both the herd that
	// least-connections sends to a server that just recovered and round-robin's blindness
	// to a slow server.
	StrategyP2C
	// StrategyLeastConn sends each request to the server with the fewest requests in flight
	// relative to its weight; ties go round-robin.
	StrategyLeastConn
	// StrategyHRW is highest random weight (rendezvous) hashing on the client's IP or on a
	// header: one key always reaches the same server, and when servers come and go only the
	// keys of the changed server move.
	StrategyHRW
)

var strategyNames = []string{"wrr", "p2c", "leastconn", "hrw"}

func (s Strategy) String() string { return strategyNames[s] }

// ParseStrategy reads a strategy name; "" is wrr.
func ParseStrategy(name string) (Strategy, error) {
	if name == "" {
		return StrategyWRR, nil
	}
	for i, n := range strategyNames {
		if strings.EqualFold(name, n) {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("strategy %q is not one of %s", name, strings.Join(strategyNames, ", "))
}

// BalancerConfig is everything a balancer needs besides its servers.
type BalancerConfig struct {
	// Service is the qualified service name: the health store's key and the log's.
	Service  string
	Strategy Strategy
	// HashHeader, for hrw, names the header whose value is hashed; a request without it
	// (and every request when it is empty) hashes the client's IP.
	HashHeader string
	// Sticky pins a client to a server with a cookie; nil: no stickiness.
	Sticky *CookieConfig
	// Passive takes servers out after failures seen on real traffic; nil: off.
	Passive *PassiveConfig
	// HealthCheck probes every server in the background while ctx lives; nil: off.
	HealthCheck *HealthCheckConfig
	// Health is the process-wide store; nil gives the balancer a store of its own (tests).
	Health *HealthStore
	Log    zerolog.Logger
}

// Balancer spreads requests over the healthy servers of one service. It is built for one
// table generation; the health of its servers lives in the process-wide HealthStore.
//
// Choosing a server allocates nothing, whatever the strategy: health is read with atomic
// loads, in-flight counts are atomic counters, and hrw hashes the key in place.
//
// A request whose connection to the chosen server could not be made (connection refused, no
// route, dial timeout) was not sent at all, so the balancer sends it to another healthy
// server, whatever its method; see Server.RoundTrip. Nothing else is retried here: once a
// request may have reached a backend, trying again is the retry middleware's decision.
type Balancer struct {
	cfg        BalancerConfig
	servers    []*Server
	active     bool   // servers are health-checked: their active verdict counts
	hashHeader string // canonical form of cfg.HashHeader
	equalW     bool   // every weight is the same: hrw compares hashes without float math
	sticky     *sticky

	mu      sync.Mutex // wrr
	current []int      // wrr: each server's current weight

	rr atomic.Uint32 // leastconn: where the scan for ties starts
}

// NewBalancer balances over servers. A weight of 0 takes a server out of the choice (it still
// serves the clients pinned to it by a sticky cookie); a negative weight counts as 0. The
// health checks, if any, run until ctx ends.
func NewBalancer(ctx context.Context, servers []*Server, cfg BalancerConfig) (*Balancer, error) {
	b := &Balancer{cfg: cfg, servers: servers, current: make([]int, len(servers)),
		active: cfg.HealthCheck != nil, hashHeader: textproto.CanonicalMIMEHeaderKey(cfg.HashHeader), equalW: true}
	store := cfg.Health
	if store == nil {
		store = NewHealthStore()
	}
	keys := make([]string, len(servers))
	for i, s := range servers {
		keys[i] = s.URL.String()
		s.Weight = max(s.Weight, 0)
		if s.Weight != servers[0].Weight {
			b.equalW = false
		}
	}
	states := store.acquire(ctx, cfg.Service, keys)
	for i, s := range servers {
		s.bal, s.idx, s.state, s.hash = b, i, states[i], hashString(keys[i])
		if !b.active {
			s.state.resetActive()
		}
	}
	if cfg.Sticky != nil {
		st, err := newSticky(*cfg.Sticky, cfg.Service, keys)
		if err != nil {
			return nil, err
		}
		b.sticky = st
		for i, s := range servers {
			s.cookie = st.values[i]
		}
	}
	if cfg.HealthCheck != nil {
		if err := startHealthChecks(ctx, b, cfg.HealthCheck); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Servers lists the balanced servers in configuration order.
func (b *Balancer) Servers() []*Server { return b.servers }

// ServeHTTP forwards to the chosen server, or answers 503 at once when the service has no
// healthy server.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UnixNano()
	s := b.pick(r, now)
	ok, probe := false, false
	if s != nil {
		ok, probe = s.state.claim()
	}
	if !ok && s != nil {
		// It was on probation and another request is testing it: choose among the others.
		s, probe = b.claimNext(r, now, newTriedSet(len(b.servers)), s)
	}
	if s == nil {
		noServer(w, r)
		return
	}
	if probe {
		defer s.state.endProbe()
	}
	s.state.inflight.Add(1)
	defer s.state.inflight.Add(-1)
	noteUpstream(w, s.URL.Host)
	s.proxy.ServeHTTP(w, r)
}

// claimNext adds skip to tried and returns the strategy's next server that can be claimed,
// or nil; probe says whether the caller must end the probe it claimed.
func (b *Balancer) claimNext(r *http.Request, now int64, tried triedSet, skip *Server) (*Server, bool) {
	for s := skip; s != nil; {
		tried.add(s.idx)
		if s = b.next(r, now, tried); s != nil {
			if ok, probe := s.state.claim(); ok {
				return s, probe
			}
		}
	}
	return nil, false
}

// Healthy reports whether some server can take a request now; parent services (weighted,
// failover, mirroring) use it to skip a child with none.
func (b *Balancer) Healthy() bool {
	now := time.Now().UnixNano()
	for i, s := range b.servers {
		if s.Weight > 0 && b.usable(i, now, nil) {
			return true
		}
	}
	return false
}

// Status reports each server's live state, for the API and metrics.
func (b *Balancer) Status() []ServerStatus {
	now := time.Now()
	out := make([]ServerStatus, len(b.servers))
	for i, s := range b.servers {
		up, reason, since := s.state.status(now, b.active)
		if up && s.Weight == 0 {
			reason = "weight 0: only sticky clients"
		}
		out[i] = ServerStatus{URL: s.URL.Redacted(), Weight: s.Weight, Up: up, Reason: reason, Since: since, InFlight: s.state.InFlight()}
	}
	return out
}

// pick chooses the server for a new request: the one its sticky cookie names when that one is
// healthy, else the strategy's choice.
func (b *Balancer) pick(r *http.Request, now int64) *Server {
	if b.sticky != nil {
		if i := b.sticky.lookup(r.Header); i >= 0 && b.usable(i, now, nil) {
			return b.servers[i]
		}
	}
	return b.next(r, now, nil)
}

// next is the strategy's choice among the usable servers not in tried.
func (b *Balancer) next(r *http.Request, now int64, tried triedSet) *Server {
	if len(b.servers) == 0 {
		return nil
	}
	switch b.cfg.Strategy {
	case StrategyP2C:
		return b.p2c(now, tried)
	case StrategyLeastConn:
		return b.leastConn(now, tried)
	case StrategyHRW:
		return b.hrw(r, now, tried)
	default:
		return b.wrr(now, tried)
	}
}

func (b *Balancer) usable(i int, now int64, tried triedSet) bool {
	return !tried.has(i) && b.servers[i].state.available(now, b.active)
}

func (b *Balancer) wrr(now int64, tried triedSet) *Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	best, total := -1, 0
	for i, s := range b.servers {
		if s.Weight == 0 || !b.usable(i, now, tried) {
			continue
		}
		b.current[i] += s.Weight
		total += s.Weight
		if best < 0 || b.current[i] > b.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b.current[best] -= total
	return b.servers[best]
}

// lighter reports whether server i is less loaded than server j, in-flight requests being
// weighed by weight: i/wi < j/wj, multiplied out.
func (b *Balancer) lighter(i, j int) bool {
	si, sj := b.servers[i], b.servers[j]
	return si.state.inflight.Load()*int64(sj.Weight) < sj.state.inflight.Load()*int64(si.Weight)
}

func (b *Balancer) p2c(now int64, tried triedSet) *Server {
	a := b.randomUsable(now, tried, -1)
	if a < 0 {
		return nil
	}
	c := b.randomUsable(now, tried, a)
	if c >= 0 && b.lighter(c, a) {
		a = c
	}
	return b.servers[a]
}

// randomUsable returns a random usable server other than skip, or -1. A few random draws
// find one when most servers are healthy; a scan from a random start finds one otherwise.
func (b *Balancer) randomUsable(now int64, tried triedSet, skip int) int {
	n := len(b.servers)
	ok := func(i int) bool { return i != skip && b.servers[i].Weight > 0 && b.usable(i, now, tried) }
	for range 3 {
		if i := randN(n); ok(i) {
			return i
		}
	}
	start := randN(n)
	for k := range n {
		if i := (start + k) % n; ok(i) {
			return i
		}
	}
	return -1
}

func (b *Balancer) leastConn(now int64, tried triedSet) *Server {
	n := len(b.servers)
	start := int(b.rr.Add(1) % uint32(n))
	best := -1
	for k := range n {
		i := (start + k) % n
		if b.servers[i].Weight == 0 || !b.usable(i, now, tried) {
			continue
		}
		if best < 0 || b.lighter(i, best) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return b.servers[best]
}

// hrw gives each (key, server) pair a pseudo-random score and takes the highest: removing a
// server moves only the keys that it won, and adding one takes only the keys it now wins.
// Weights follow the weighted rendezvous scheme (score = w / -ln(u)).
func (b *Balancer) hrw(r *http.Request, now int64, tried triedSet) *Server {
	key := b.hashKey(r)
	best := -1
	var bestH uint64
	var bestScore float64
	for i, s := range b.servers {
		if s.Weight == 0 || !b.usable(i, now, tried) {
			continue
		}
		h := mix64(key ^ s.hash)
		if b.equalW {
			if best < 0 || h > bestH {
				best, bestH = i, h
			}
			continue
		}
		if sc := weightedScore(h, s.Weight); best < 0 || sc > bestScore {
			best, bestScore = i, sc
		}
	}
	if best < 0 {
		return nil
	}
	return b.servers[best]
}

func (b *Balancer) hashKey(r *http.Request) uint64 {
	if b.hashHeader != "" {
		if v := r.Header[b.hashHeader]; len(v) > 0 && v[0] != "" {
			return hashString(v[0])
		}
	}
	return hashString(remoteHost(r.RemoteAddr))
}

// remoteHost is the address part of host:port, without allocating.
func remoteHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

// triedSet is the servers already tried for one request, by index. It is nil (and costs
// nothing) until a connection fails.
type triedSet []uint64

func newTriedSet(n int) triedSet { return make(triedSet, (n+63)/64) }

func (t triedSet) has(i int) bool { return i/64 < len(t) && t[i/64]&(1<<(i%64)) != 0 }
func (t triedSet) add(i int)      { t[i/64] |= 1 << (i % 64) }

// noServer answers a request that no server can take.
func noServer(w http.ResponseWriter, r *http.Request) {
	if a := attemptFrom(r.Context()); a != nil {
		a.noServer = true
	}
	WriteError(w, http.StatusServiceUnavailable)
}
