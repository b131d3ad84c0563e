package static

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// checker collects the problems found after decoding, each at the place the value was
// written (found again in the merged tree).
type checker struct {
	root  *dynamic.Node
	errs  dynamic.Errors
	warns dynamic.Errors
}

// source is where the option at path was written. For an option left out it is the
// nearest enclosing section in the file ("wharf.yml:3:3: entryPoints.web.address: ..."),
// never an environment variable or flag that set something else.
func (ck *checker) source(path []string) dynamic.Source {
	fileOnly := func(s dynamic.Source) dynamic.Source {
		if s.Label != "" {
			return dynamic.Source{}
		}
		return s
	}
	n := ck.root
	near := fileOnly(n.Src)
	for _, seg := range path {
		name, idx := seg, -1
		if open := strings.IndexByte(seg, '['); open > 0 {
			name = seg[:open]
			idx, _ = strconv.Atoi(strings.TrimSuffix(seg[open+1:], "]"))
		}
		next := n.Get(name)
		if next != nil && idx >= 0 {
			if next.Kind == dynamic.Scalar {
				return next.Src // a comma-separated list from a variable or a flag
			}
			if next.Kind != dynamic.List || idx >= len(next.Items) {
				return near
			}
			next = next.Items[idx]
		}
		if next == nil {
			return near
		}
		n, near = next, fileOnly(next.Src)
	}
	return n.Src
}

func (ck *checker) report(warn bool, path []string, value *string, format string, args ...any) {
	e := &dynamic.Error{Source: ck.source(path), Path: strings.Join(path, "."), Msg: fmt.Sprintf(format, args...), Warning: warn}
	if value != nil {
		e.Value, e.HasVal = *value, true
	}
	if warn {
		ck.warns = append(ck.warns, e)
	} else {
		ck.errs = append(ck.errs, e)
	}
}

// fail reports a problem without repeating the value (it may be a secret, or absent).
func (ck *checker) fail(path []string, format string, args ...any) {
	ck.report(false, path, nil, format, args...)
}

// failValue reports a problem with the value that causes it.
func (ck *checker) failValue(path []string, value, format string, args ...any) {
	ck.report(false, path, &value, format, args...)
}

func (ck *checker) warn(path []string, value, format string, args ...any) {
	ck.report(true, path, &value, format, args...)
}

func at(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// address checks host:port and returns it normalized (a Traefik "/tcp" suffix removed).
func (ck *checker) address(path []string, addr string) (string, bool) {
	a, err := parseAddress(addr)
	switch {
	case err != nil && strings.TrimSpace(addr) == "":
		ck.fail(path, "%v", err)
		return "", false
	case err != nil:
		ck.failValue(path, addr, "%v", err)
		return "", false
	}
	return a, true
}

func parseAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", fmt.Errorf(`required: write a port like ":80" or host:port like "127.0.0.1:8080"`)
	}
	switch l := strings.ToLower(a); {
	case strings.HasSuffix(l, "/tcp"):
		a = a[:len(a)-len("/tcp")]
	case strings.HasSuffix(l, "/udp"):
		return "", fmt.Errorf("UDP entrypoints are not supported")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf(`not host:port: write ":80", "127.0.0.1:8080" or "[::1]:443"`)
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("%q is not an IPv6 address", host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return a, nil
}

// trusted checks a list of IPs and CIDRs.
func (ck *checker) trusted(path []string, list []string) {
	for i, s := range list {
		if _, err := parsePrefix(s); err != nil {
			ck.failValue(at(path[:len(path)-1], fmt.Sprintf("%s[%d]", path[len(path)-1], i)), s, "not an IP address or a CIDR: write 192.0.2.7, 10.0.0.0/8 or 2001:db8::/32")
		}
	}
}

// parsePrefix reads an IP ("192.0.2.7", as /32) or a CIDR ("10.0.0.0/8"). IPv4-mapped
// IPv6 forms are reduced to IPv4, so a rule written either way matches the same peers.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePrefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func (ck *checker) nonNegative(path []string, n int64) {
	if n < 0 {
		ck.failValue(path, strconv.FormatInt(n, 10), "must not be negative")
	}
}

// durations refuses every negative duration in c, wherever it is.
func (ck *checker) durations(c *Config) {
	walkValues(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		if v.Type() == durationType && v.Int() < 0 {
			ck.failValue(strings.Split(path, "."), formatDuration(time.Duration(v.Int())), "must not be negative")
		}
	})
}

// oneOf lowers value and checks it is among allowed.
func (ck *checker) oneOf(path []string, value *string, allowed ...string) {
	v := strings.ToLower(strings.TrimSpace(*value))
	for _, a := range allowed {
		if v == a {
			*value = v
			return
		}
	}
	ck.failValue(path, *value, "must be one of %s", strings.Join(allowed, ", "))
}

// lookup finds name among the keys of m case-insensitively and returns the key as written.
func lookup[V any](m map[string]V, name string) (string, bool) {
	if _, ok := m[name]; ok {
		return name, true
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// checkName refuses names that could not be referred to from a label list
// (`entrypoints=web,websecure`) or a qualified name (`auth@file`).
func (ck *checker) checkName(path []string, name string) {
	if strings.ContainsAny(name, ",@ \t") {
		ck.fail(path, "the name %q cannot contain a comma, an @ or a space: routers could not refer to it", name)
	}
}
