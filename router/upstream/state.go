package upstream

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HealthStore keeps what is known about every server of every service for the life of the
// process: whether its health check passes, whether real traffic has been failing on it, and
// how many requests it has in flight. Balancers and health checks belong to one table
// generation; the store does not, so a reload that keeps a service keeps its servers' health
// (a server that was down stays down instead of flapping back to "healthy" on every reload),
// and the requests still running on the old table count for least-connections in the new one.
//
// An entry lives as long as some table generation uses it: a generation holds its entries
// until its context ends, and an entry no generation holds is forgotten.
type HealthStore struct {
	mu sync.Mutex
	m  map[stateKey]*ServerState
}

type stateKey struct{ service, url string }

// NewHealthStore returns an empty store. A process makes one and hands it to every Compile.
func NewHealthStore() *HealthStore {
	return &HealthStore{m: make(map[stateKey]*ServerState)}
}

// acquire returns the state of each of service's servers, creating the missing ones, and
// holds them until ctx ends. A new generation acquires before the old one is cancelled, so a
// state that both use is never dropped in between.
func (h *HealthStore) acquire(ctx context.Context, service string, urls []string) []*ServerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*ServerState, len(urls))
	for i, u := range urls {
		k := stateKey{service, u}
		st := h.m[k]
		if st == nil {
			st = newServerState(dialAddr(u))
			h.m[k] = st
		}
		st.refs++
		out[i] = st
	}
	context.AfterFunc(ctx, func() { h.release(service, urls) })
	return out
}

func (h *HealthStore) release(service string, urls []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range urls {
		k := stateKey{service, u}
		if st := h.m[k]; st != nil {
			if st.refs--; st.refs <= 0 {
				delete(h.m, k)
				st.dropped.Store(true) // ends its reconnection probes
			}
		}
	}
}

// Len is how many servers the store remembers.
func (h *HealthStore) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// ServerState is the shared, live state of one server of one service. The request path reads
// it with atomic loads only; the mutex guards the reasons shown in the API and the passive
// failure history, both touched only when something goes wrong.
type ServerState struct {
	inflight     atomic.Int64
	activeDown   atomic.Bool  // the last active health check failed
	passiveUntil atomic.Int64 // unix nanoseconds: out of rotation until then (passive check)
	probation    atomic.Bool  // back from a passive cool-down, not yet proven by a success
	probing      atomic.Bool  // on probation, and one request is testing it: the others wait
	lastProbe    atomic.Int64 // unix nanoseconds of the last active check started, by any generation
	dropped      atomic.Bool  // no table generation uses it any more
	addr         string       // host:port, for the reconnection probe; "" when unknown

	mu            sync.Mutex
	activeReason  string
	activeSince   time.Time // when the active check last changed its verdict
	passiveReason string
	passiveSince  time.Time
	fails         []int64 // ring of the last failure times (passive check)
	nfails        int
	coolDown      int64 // the last cool-down, doubled by every failed probation
	refs          int   // generations holding this state; guarded by HealthStore.mu
}

func newServerState(addr string) *ServerState {
	return &ServerState{activeSince: time.Now(), addr: addr}
}

// dialAddr is the host:port a server URL connects to.
func dialAddr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// InFlight is how many requests the server is answering now, across table generations.
func (s *ServerState) InFlight() int64 { return s.inflight.Load() }

// available reports whether the server may receive a request at now (unix nanoseconds).
// active says whether the balancer runs active health checks; when it does not, a verdict
// left over from an earlier configuration is ignored.
func (s *ServerState) available(now int64, active bool) bool {
	if active && s.activeDown.Load() {
		return false
	}
	return s.passiveUntil.Load() <= now && !(s.probation.Load() && s.probing.Load())
}

// claim lets a request use the server: always, unless the server is on probation, where one
// request at a time tests it (a server whose address vanished can hold a connection attempt
// for seconds; it must not hold every client's). It reports whether the request got the
// server, and whether it must call endProbe when it is done.
func (s *ServerState) claim() (ok, probe bool) {
	if !s.probation.Load() {
		return true, false
	}
	ok = s.probing.CompareAndSwap(false, true)
	return ok, ok
}

func (s *ServerState) endProbe() { s.probing.Store(false) }

// setActive records an active check's verdict and reports whether it changed.
func (s *ServerState) setActive(up bool, reason string) bool {
	if s.activeDown.Load() == !up {
		if !up {
			s.mu.Lock()
			s.activeReason = reason // keep the reason current: the failure may have changed
			s.mu.Unlock()
		}
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activeDown.Store(!up)
	s.activeReason = reason
	s.activeSince = time.Now()
	return true
}

// resetActive forgets an active verdict, for a service whose health check was removed: if a
// check is added again later, it starts from "up" and probes at once.
func (s *ServerState) resetActive() {
	if s.activeDown.Load() || s.lastProbe.Load() != 0 {
		s.mu.Lock()
		s.activeDown.Store(false)
		s.lastProbe.Store(0)
		s.activeReason = ""
		s.mu.Unlock()
	}
}

// PassiveConfig is the passive health check of a balancer: MaxFailures failures within
// Window take a server out of rotation for a cool-down of Window. Then it is probed back in:
// first wharf connects to it in the background (no client waits on a server whose address
// vanished, where a connection attempt can hang for seconds); once that succeeds, the server
// is on probation: one request at a time is sent to it, and the first to finish decides. A
// success makes it a full member again; a failure, of the connection probe or on probation,
// sends it back to a cool-down twice as long as the last (at most 8 Windows), so a server that
// stays dead is tried less and less often.
type PassiveConfig struct {
	Window      time.Duration
	MaxFailures int
	// Status lists the responses that count as failures. Errors (connection refused or reset,
	// timeouts) always count.
	Status StatusSet
}

// failed records a failure at now and reports whether it took the server out, and whether
// it was already on probation (out again, rather than newly out).
func (s *ServerState) failed(now int64, pc *PassiveConfig, reason string) (out, again bool) {
	return s.fail(now, pc, reason, false)
}

// fail is failed; reconnecting says that the failure is the reconnection probe's, which is
// counted although the server is out.
func (s *ServerState) fail(now int64, pc *PassiveConfig, reason string, reconnecting bool) (out, again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !reconnecting && s.passiveUntil.Load() > now {
		return false, false // already out: requests that were running when it tripped are ending
	}
	n := max(pc.MaxFailures, 1)
	again = s.probation.Load()
	trip := again
	if !trip {
		if len(s.fails) != n {
			s.fails, s.nfails = make([]int64, n), 0
		}
		s.fails[s.nfails%n] = now
		s.nfails++
		// After the write, the next slot holds the oldest of the last n failures.
		trip = s.nfails >= n && s.fails[s.nfails%n] > now-int64(pc.Window)
	}
	if !trip {
		return false, false
	}
	win := int64(pc.Window)
	if again {
		win = min(2*max(s.coolDown, win), 8*win)
	}
	s.coolDown = win
	s.probation.Store(true)
	if s.addr == "" {
		s.passiveUntil.Store(now + win)
	} else {
		s.passiveUntil.Store(math.MaxInt64) // until the reconnection probe passes
		time.AfterFunc(time.Duration(win), func() { s.reconnect(pc) })
	}
	s.nfails = 0
	s.passiveReason = reason
	if !again {
		s.passiveSince = time.Unix(0, now) // down since the first trip, not the last probe
	}
	return true, again
}

// ReconnectTimeout bounds the connection attempt that probes a server back in after a
// cool-down.
const ReconnectTimeout = 2 * time.Second

// reconnect ends a cool-down: when the server accepts a connection it goes on probation
// (available to one request at a time); otherwise it is out for another, longer, cool-down.
func (s *ServerState) reconnect(pc *PassiveConfig) {
	if s.dropped.Load() {
		return
	}
	conn, err := net.DialTimeout("tcp", s.addr, ReconnectTimeout)
	if err == nil {
		conn.Close()
		s.passiveUntil.Store(time.Now().UnixNano())
		return
	}
	s.fail(time.Now().UnixNano(), pc, "reconnecting after the cool-down: "+err.Error(), true)
}

// succeeded ends a probation. It reports whether it did, for the log.
func (s *ServerState) succeeded(now int64) bool {
	if !s.probation.Load() || s.passiveUntil.Load() > now {
		return false
	}
	return s.probation.CompareAndSwap(true, false)
}

// ServerStatus is one server as the API and metrics show it.
type ServerStatus struct {
	URL      string    `json:"url"` // without password
	Weight   int       `json:"weight"`
	Up       bool      `json:"up"`
	Reason   string    `json:"reason,omitempty"` // why it is out of rotation
	Since    time.Time `json:"since"`            // when it entered its current state
	InFlight int64     `json:"inFlight"`
}

func (s *ServerState) status(now time.Time, active bool) (up bool, reason string, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if active && s.activeDown.Load() {
		return false, s.activeReason, s.activeSince
	}
	until := s.passiveUntil.Load()
	if until > now.UnixNano() {
		return false, s.passiveReason, s.passiveSince
	}
	since = s.activeSince
	if until > 0 && time.Unix(0, until).After(since) {
		since = time.Unix(0, until)
	}
	return true, "", since
}

// StatusSet is a set of HTTP status codes, read from Traefik-style specs ("500-599", "404").
// The zero value is empty.
type StatusSet struct {
	bits [10]uint64 // codes 0-639
	any  bool
}

// ParseStatusSet reads codes and ranges. A spec may itself hold a comma-separated list.
func ParseStatusSet(specs []string) (StatusSet, error) {
	var s StatusSet
	for _, spec := range specs {
		for _, part := range splitComma(spec) {
			lo, hi, err := parseStatusRange(part)
			if err != nil {
				return StatusSet{}, err
			}
			for c := lo; c <= hi; c++ {
				s.bits[c/64] |= 1 << (c % 64)
			}
			s.any = true
		}
	}
	return s, nil
}

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	return code >= 0 && code < 640 && s.bits[code/64]&(1<<(code%64)) != 0
}

// Empty reports whether the set has no code.
func (s *StatusSet) Empty() bool { return !s.any }

func parseStatusRange(spec string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(spec, "-")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err == nil {
		hi = lo
		if isRange {
			hi, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if err != nil || lo < 100 || hi > 599 || lo > hi {
		return 0, 0, fmt.Errorf("status %q is not a code or a range of codes between 100 and 599, like 502 or 500-599", spec)
	}
	return lo, hi, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
