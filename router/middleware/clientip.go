package middleware

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// ipStrategyOptions is Traefik's ipStrategy: which address is "the client". By default it is
// the peer of the connection. depth N takes the Nth address of X-Forwarded-For counted from
// the right (1 is the address the nearest proxy saw); excludedIPs takes the rightmost address
// not in the list. The entrypoint has already removed X-Forwarded-For from peers it does not
// trust, so whatever is left was written by a proxy the operator vouched for.
type ipStrategyOptions struct {
	Depth       int
	ExcludedIPs []string `wharf:"excludedIPs"`
	IPv6Subnet  *int     `wharf:"ipv6Subnet"`
}

// ipStrategy is an ipStrategyOptions made ready for the request path.
type ipStrategy struct {
	depth      int
	excluded   []netip.Prefix
	ipv6Prefix int // 0: whole addresses
}

func newIPStrategy(env *Env, opts *dynamic.Node, key string, o *ipStrategyOptions) (*ipStrategy, error) {
	s := &ipStrategy{}
	if o == nil {
		return s, nil
	}
	if o.Depth < 0 {
		return nil, env.Invalid(opts, key+".depth", "depth must be 0 (not used) or more, not %d", o.Depth)
	}
	s.depth = o.Depth
	if s.depth == 0 && len(o.ExcludedIPs) > 0 {
		ps, err := parsePrefixes(o.ExcludedIPs)
		if err != nil {
			return nil, env.Invalid(opts, key+".excludedIPs", "%v", err)
		}
		s.excluded = ps
	}
	if o.IPv6Subnet != nil {
		if *o.IPv6Subnet < 1 || *o.IPv6Subnet > 128 {
			return nil, env.Invalid(opts, key+".ipv6Subnet", "ipv6Subnet must be between 1 and 128, not %d", *o.IPv6Subnet)
		}
		s.ipv6Prefix = *o.IPv6Subnet
	}
	return s, nil
}

// parsePrefixes reads addresses and CIDR ranges; a bare address is a range of one.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &listError{value: s, msg: "is neither an IP address nor a CIDR range (like 10.0.0.0/8)"}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// listError names the item of a list option that is wrong.
type listError struct {
	value string
	msg   string
}

func (e *listError) Error() string { return quote(e.value) + " " + e.msg }

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP returns the address the strategy designates, or false when there is none (depth
// larger than the X-Forwarded-For list, or an address that does not parse): such a request
// matches no allow list.
func (s *ipStrategy) clientIP(r *http.Request) (netip.Addr, bool) {
	var a netip.Addr
	var ok bool
	switch {
	case s.depth > 0:
		a, ok = forwardedAt(r.Header["X-Forwarded-For"], s.depth)
	case len(s.excluded) > 0:
		a, ok = forwardedNotIn(r.Header["X-Forwarded-For"], s.excluded)
	default:
		a, ok = peerAddr(r.RemoteAddr)
	}
	if ok && s.ipv6Prefix > 0 && a.Is6() {
		if p, err := a.Prefix(s.ipv6Prefix); err == nil {
			a = p.Addr()
		}
	}
	return a, ok
}

// peerAddr parses "ip:port" (or a bare address) without allocating. IPv4-mapped IPv6 peers
// are matched as IPv4, as SECURITY.md requires.
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// forwardedAt returns the depth-th address from the right of X-Forwarded-For, across all
// its header lines.
func forwardedAt(values []string, depth int) (netip.Addr, bool) {
	n := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var item string
			v, item = lastItem(v)
			if item == "" {
				continue
			}
			if n++; n == depth {
				return parseForwarded(item)
			}
		}
	}
	return netip.Addr{}, false
}

// forwardedNotIn returns the rightmost address of X-Forwarded-For that is not excluded.
func forwardedNotIn(values []string, excluded []netip.Prefix) (netip.Addr, bool) {
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var item string
			v, item = lastItem(v)
			if item == "" {
				continue
			}
			a, ok := parseForwarded(item)
			if !ok {
				return a, false
			}
			if !containsAddr(excluded, a) {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// lastItem splits the last comma-separated item off v.
func lastItem(v string) (rest, item string) {
	i := strings.LastIndexByte(v, ',')
	item = strings.TrimSpace(v[i+1:])
	if i < 0 {
		return "", item
	}
	return v[:i], item
}

// parseForwarded reads one X-Forwarded-For item: an address, possibly with a port.
func parseForwarded(item string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(item); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(item); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// sourceCriterionOptions is Traefik's sourceCriterion: what groups requests into one source
// for rateLimit and inFlightReq. At most one of the three may be set.
type sourceCriterionOptions struct {
	IPStrategy        *ipStrategyOptions `wharf:"ipStrategy"`
	RequestHeaderName string
	RequestHost       bool
}

// sourceKey identifies a source without allocating: an address, or a string that is a
// substring of the request (a header value, the host).
type sourceKey struct {
	ip netip.Addr
	s  string
}

type sourceCriterion struct {
	ip     *ipStrategy // nil when header or host is used
	header string      // canonical header name
	host   bool
}

// newSourceCriterion builds the criterion; def says what an empty one means (rateLimit
// groups by client address, inFlightReq by host, as in Traefik).
func newSourceCriterion(env *Env, opts *dynamic.Node, o *sourceCriterionOptions, defaultHost bool) (*sourceCriterion, error) {
	if o == nil {
		if defaultHost {
			return &sourceCriterion{host: true}, nil
		}
		return &sourceCriterion{ip: &ipStrategy{}}, nil
	}
	set := 0
	if o.IPStrategy != nil {
		set++
	}
	if o.RequestHeaderName != "" {
		set++
	}
	if o.RequestHost {
		set++
	}
	if set > 1 {
		return nil, env.Invalid(opts, "sourceCriterion", "give only one of ipStrategy, requestHeaderName and requestHost")
	}
	switch {
	case o.RequestHeaderName != "":
		return &sourceCriterion{header: http.CanonicalHeaderKey(o.RequestHeaderName)}, nil
	case o.RequestHost:
		return &sourceCriterion{host: true}, nil
	case o.IPStrategy == nil && defaultHost:
		return &sourceCriterion{host: true}, nil
	}
	s, err := newIPStrategy(env, opts, "sourceCriterion.ipStrategy", o.IPStrategy)
	if err != nil {
		return nil, err
	}
	return &sourceCriterion{ip: s}, nil
}

// key returns the request's source. As in Traefik, requests without the header, or whose
// client address cannot be found (depth beyond the X-Forwarded-For list), share one source.
func (c *sourceCriterion) key(r *http.Request) sourceKey {
	switch {
	case c.header != "":
		if v := r.Header[c.header]; len(v) > 0 {
			return sourceKey{s: v[0]}
		}
		return sourceKey{}
	case c.host:
		return sourceKey{s: hostOnly(r.Host)}
	}
	a, _ := c.ip.clientIP(r)
	return sourceKey{ip: a}
}

// hostOnly strips the port from a Host header value without allocating.
func hostOnly(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
