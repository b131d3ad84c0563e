package rule

import (
	"fmt"
	"net/netip"
	"strings"
)

// CanonicalHost returns the form of a host under which wharf routes, picks TLS options and
// requests certificates: lowercase, without a port, IPv6 brackets or one trailing dot.
// "Example.COM.:443" becomes "example.com" and "[::1]:80" becomes "::1". Every package uses
// this one function, so that routing and TLS can never disagree about which host a request is
// for (a classic way to get a route served with another route's TLS policy).
//
// An already canonical host is returned without allocating.
func CanonicalHost(h string) string {
	if h != "" && h[0] == '[' {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end] // drops the brackets and any ":port"
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.LastIndexByte(h, ':') == i {
		h = h[:i] // one colon: host:port; more: a bare IPv6 address, kept whole
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h) // returns h itself when there is nothing to lower
}

// MatchHost reports whether the canonical host matches pattern, a canonical name or a
// `*.suffix` wildcard. A wildcard stands for exactly one label, as in TLS certificates
// (RFC 6125, section 6.4.3): `*.example.com` matches "a.example.com" but neither
// "example.com" nor "a.b.example.com".
func MatchHost(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok && strings.HasPrefix(suffix, ".") {
		return matchWildSuffix(suffix, host)
	}
	return pattern == host
}

// matchWildSuffix reports whether host is one non-empty label followed by suffix, which
// starts with ".".
func matchWildSuffix(suffix, host string) bool {
	n := len(host) - len(suffix)
	return n > 0 && host[n:] == suffix && strings.IndexByte(host[:n], '.') < 0
}

// canonHostArg canonicalizes a Host argument as CanonicalHost would a request host, but
// strictly: what CanonicalHost quietly drops from a request (a port) is a mistake in a rule,
// since the rule would then mean something other than what it says. It returns the canonical
// host, or "" and an error message.
func canonHostArg(s string) (string, string) {
	switch {
	case s == "":
		return "", "empty host"
	case !isASCII(s):
		return "", fmt.Sprintf("host %q is not ASCII: write it in punycode (xn--...)", s)
	case strings.Contains(s, "://"):
		return "", fmt.Sprintf("host %q must not include a scheme", s)
	case strings.Contains(s, "/"):
		return "", fmt.Sprintf("host %q must not include a path", s)
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		switch {
		case end > 0 && end == len(s)-1 && isIPv6(s[1:end]):
			return strings.ToLower(s[1:end]), ""
		case end > 0 && end+1 < len(s) && s[end+1] == ':':
			return "", fmt.Sprintf("host %q must not include a port", s)
		}
		return "", fmt.Sprintf("invalid host %q", s)
	}
	if n := strings.Count(s, ":"); n == 1 {
		return "", fmt.Sprintf("host %q must not include a port", s)
	} else if n > 1 {
		if !isIPv6(s) {
			return "", fmt.Sprintf("invalid host %q", s)
		}
		return strings.ToLower(s), ""
	}
	h := strings.TrimSuffix(strings.ToLower(s), ".")
	name, wild := strings.CutPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return "", fmt.Sprintf("host %q: a wildcard must be a whole leading label, as in *.example.com", s)
	}
	if !validHostName(name) {
		return "", fmt.Sprintf("invalid host %q", s)
	}
	if wild {
		return "*." + name, ""
	}
	return name, ""
}

// validHostName accepts dot-separated non-empty labels of lowercase letters, digits, "-" and
// "_" (underscores occur in real internal names, and Traefik accepts them).
func validHostName(h string) bool {
	if h == "" {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// appendUnique appends s to list unless it is already there. Lists here are a rule's own
// host names, a handful, so a linear scan beats a map.
func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// hostSet is a finite set of hosts: exact names plus one-label wildcards, stored as suffixes
// without "*." as HostConstraint reports them.
type hostSet struct {
	exact []string
	wild  []string
}

// allows reports whether host is in the set.
func (s hostSet) allows(host string) bool {
	for _, e := range s.exact {
		if e == host {
			return true
		}
	}
	for _, w := range s.wild {
		if matchWildSuffix("."+w, host) { // parse time only: the concatenation is fine
			return true
		}
	}
	return false
}

// hostConstraint computes the finite host set a matcher restricts requests to, or false if
// it does not. It must be sound (never leave out a host that could match), so anything it
// does not understand, including every negation, is unconstrained.
func hostConstraint(m matcher) (hostSet, bool) {
	switch n := m.(type) {
	case *hostMatcher:
		s := hostSet{exact: append([]string(nil), n.exact...)}
		for _, w := range n.wild {
			s.wild = append(s.wild, w[1:])
		}
		return s, true
	case andNode:
		var acc hostSet
		have := false
		for _, c := range n {
			if cs, ok := hostConstraint(c); ok && !have {
				acc, have = cs, true
			} else if ok {
				acc = intersect(acc, cs)
			}
		}
		return acc, have
	case orNode:
		var acc hostSet
		for _, c := range n {
			cs, ok := hostConstraint(c)
			if !ok {
				return hostSet{}, false
			}
			for _, e := range cs.exact {
				acc.exact = appendUnique(acc.exact, e)
			}
			for _, w := range cs.wild {
				acc.wild = appendUnique(acc.wild, w)
			}
		}
		return acc, true
	}
	return hostSet{}, false
}

// intersect returns the hosts in both a and b. It is exact: an exact name survives if the
// other side allows it, and two one-label wildcards overlap only when their suffixes are equal
// (the label is everything before the first dot, so "x.s1" == "y.s2" forces s1 == s2).
func intersect(a, b hostSet) hostSet {
	var out hostSet
	for _, e := range a.exact {
		if b.allows(e) {
			out.exact = appendUnique(out.exact, e)
		}
	}
	for _, e := range b.exact {
		if a.allows(e) {
			out.exact = appendUnique(out.exact, e)
		}
	}
	for _, w := range a.wild {
		for _, x := range b.wild {
			if w == x {
				out.wild = appendUnique(out.wild, w)
			}
		}
	}
	return out
}

// collectHosts appends the exact Host names under an even number of negations to acc.
func collectHosts(m matcher, positive bool, acc []string) []string {
	switch n := m.(type) {
	case *hostMatcher:
		if positive {
			for _, e := range n.exact {
				acc = appendUnique(acc, e)
			}
		}
	case andNode:
		for _, c := range n {
			acc = collectHosts(c, positive, acc)
		}
	case orNode:
		for _, c := range n {
			acc = collectHosts(c, positive, acc)
		}
	case notNode:
		acc = collectHosts(n.m, !positive, acc)
	}
	return acc
}
