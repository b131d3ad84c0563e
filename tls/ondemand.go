package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/wharfproxy/wharf/router/rule"
)

// On-demand defaults.
const (
	DefaultOnDemandBurst    = 10
	DefaultOnDemandInterval = time.Minute
	// DefaultOnDemandWait stays under the entrypoints' TLS handshake deadline (their read
	// header timeout, 10 s by default), so that a handshake that gives up waiting still
	// completes with the default certificate instead of timing out.
	DefaultOnDemandWait = 8 * time.Second

	// onDemandObtainTimeout bounds one on-demand issuance in the background: the first
	// attempt and certmagic's first retry (after one minute).
	onDemandObtainTimeout = 90 * time.Second
	// After a failed issuance a name gets the default certificate, without a new attempt,
	// for onDemandBackoffMin, doubling up to onDemandBackoffMax.
	onDemandBackoffMin = time.Minute
	onDemandBackoffMax = time.Hour
)

// onDemand obtains certificates at the first handshake. certmagic's own on-demand mode is
// not used: it would make the handshake wait on the CA with retries for up to three
// minutes. Here an issuance runs in the background, the handshake waits at most Wait, and
// after that, or when the policy, the rate limit or the backoff says no, the handshake gets
// the default certificate at once. Certificates obtained this way live in the shared cache
// and are renewed by its maintenance like any other, as long as the policy still allows
// their name.
type onDemand struct {
	m       *Manager
	r       *resolver
	allow   []string // canonical names and "*.suffix" patterns
	limiter *certmagic.RingBufferRateLimiter
	wait    time.Duration

	mu       sync.Mutex
	flights  map[string]*flight
	failures map[string]backoff
	names    map[string]bool // names that got a certificate on demand
}

type flight struct {
	done chan struct{}
	cert *tls.Certificate // set before done is closed
}

type backoff struct {
	until time.Time
	n     int
}

func newOnDemand(c OnDemand, m *Manager) (*onDemand, error) {
	name := c.Resolver
	if name == "" {
		if len(m.order) != 1 {
			return nil, fmt.Errorf("on-demand TLS: name its resolver (there are %d)", len(m.order))
		}
		name = m.order[0].name
	}
	r := m.resolvers[name]
	if r == nil {
		return nil, fmt.Errorf("on-demand TLS: certificate resolver %q is not defined", name)
	}
	if c.Burst <= 0 {
		c.Burst = DefaultOnDemandBurst
	}
	if c.Interval <= 0 {
		c.Interval = DefaultOnDemandInterval
	}
	if c.Wait <= 0 {
		c.Wait = DefaultOnDemandWait
	}
	od := &onDemand{m: m, r: r, wait: c.Wait, flights: map[string]*flight{}, failures: map[string]backoff{}, names: map[string]bool{}}
	for _, a := range c.Allow {
		p := rule.CanonicalHost(a)
		if p == "" || (strings.Contains(p, "*") && !strings.HasPrefix(p, "*.")) || strings.Count(p, "*") > 1 {
			return nil, fmt.Errorf("on-demand TLS: allow entry %q is neither a host name nor a *.domain wildcard", a)
		}
		od.allow = append(od.allow, p)
	}
	od.limiter = certmagic.NewRateLimiter(c.Burst, c.Interval)
	return od, nil
}

// allowed is the on-demand policy: the allow-list, or a current router's Host rule.
func (od *onDemand) allowed(s *snapshot, host string) bool {
	for _, p := range od.allow {
		if rule.MatchHost(p, host) {
			return true
		}
	}
	return s.onDemandAllowed != nil && s.onDemandAllowed(host)
}

// certificate returns a certificate for host obtained (or loaded from storage) on demand,
// or nil when the handshake should get the default certificate.
func (od *onDemand) certificate(hello *tls.ClientHelloInfo, host string, s *snapshot) *tls.Certificate {
	if !od.allowed(s, host) || !certmagic.SubjectQualifiesForCert(host) {
		return nil
	}
	f := od.start(host)
	if f == nil {
		return nil
	}
	t := time.NewTimer(od.wait)
	defer t.Stop()
	select {
	case <-f.done:
		return f.cert
	case <-t.C:
		od.m.log.Info().Str("name", host).Dur("waited", od.wait).Msg("on-demand certificate not ready; serving the default certificate meanwhile")
	case <-hello.Context().Done():
	}
	return nil
}

// start joins the issuance in flight for host or starts one, unless host is backing off
// after a failure or the rate limit is spent (then it returns nil).
func (od *onDemand) start(host string) *flight {
	od.mu.Lock()
	defer od.mu.Unlock()
	if f := od.flights[host]; f != nil {
		return f
	}
	if b, ok := od.failures[host]; ok && time.Now().Before(b.until) {
		return nil
	}
	if !od.limiter.Allow() {
		od.m.log.Warn().Str("name", host).Msg("on-demand TLS rate limit reached; serving the default certificate")
		return nil
	}
	f := &flight{done: make(chan struct{})}
	od.flights[host] = f
	go od.run(host, f)
	return f
}

func (od *onDemand) run(host string, f *flight) {
	ctx, cancel := context.WithTimeout(od.m.ctx, onDemandObtainTimeout)
	defer cancel()
	cert, err := od.obtain(ctx, host)
	od.mu.Lock()
	delete(od.flights, host)
	if err != nil {
		od.pruneFailures()
		b := od.failures[host]
		b.n++
		d := min(onDemandBackoffMin<<min(b.n-1, 10), onDemandBackoffMax)
		b.until = time.Now().Add(d)
		od.failures[host] = b
		od.m.book.failed(host, err)
		od.m.log.Error().Err(err).Str("name", host).Dur("retry_in", d).Msg("on-demand certificate failed")
	} else {
		delete(od.failures, host)
		od.names[host] = true
	}
	od.mu.Unlock()
	f.cert = cert
	close(f.done)
}

// pruneFailures forgets backoffs that have ended once there are many: with a wildcard rule
// the names are unbounded, and this map must not grow with them. od.mu is held.
func (od *onDemand) pruneFailures() {
	if len(od.failures) < 1024 {
		return
	}
	now := time.Now()
	for n, b := range od.failures {
		if now.After(b.until) {
			delete(od.failures, n)
		}
	}
}

// obtain loads host's certificate from storage, or obtains one, and caches it.
func (od *onDemand) obtain(ctx context.Context, host string) (*tls.Certificate, error) {
	cfg := od.r.cfg
	c, err := cfg.CacheManagedCertificate(ctx, host)
	if errors.Is(err, fs.ErrNotExist) {
		od.m.log.Info().Str("name", host).Str("resolver", od.r.name).Msg("obtaining certificate on demand")
		if err = cfg.ObtainCertAsync(ctx, host); err != nil {
			return nil, err
		}
		c, err = cfg.CacheManagedCertificate(ctx, host)
	}
	if err != nil {
		return nil, err
	}
	if c.NeedsRenewal(cfg) {
		go od.m.renew(od.m.ctx, host, od.r, c)
	}
	return &c.Certificate, nil
}

// sweep forgets on-demand certificates whose names the policy no longer allows, so they
// are neither served nor renewed.
func (od *onDemand) sweep(s *snapshot) {
	od.mu.Lock()
	var gone []certmagic.SubjectIssuer
	for n := range od.names {
		if !od.allowed(s, n) && od.m.resolverFor([]string{n}) == nil {
			delete(od.names, n)
			gone = append(gone, certmagic.SubjectIssuer{Subject: n})
		}
	}
	od.mu.Unlock()
	if len(gone) > 0 {
		od.m.cache.RemoveManaged(gone)
	}
}

// list returns the names that got a certificate on demand and are still allowed.
func (od *onDemand) list() []string {
	od.mu.Lock()
	defer od.mu.Unlock()
	return keys(od.names)
}
