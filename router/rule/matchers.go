package rule

import (
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"regexp"
	"regexp/syntax"
	"strings"
)

// matcher is one compiled node of a rule. Nodes are built at parse time and never change, so
// a Rule can be shared by every goroutine serving requests.
type matcher interface {
	match(r *Request) bool
}

// andNode, orNode and notNode combine matchers. "&&" and "||" chains are kept flat rather
// than as binary trees, which keeps a long chain from becoming a deep recursion.
type (
	andNode []matcher
	orNode  []matcher
	notNode struct{ m matcher }
)

func (n andNode) match(r *Request) bool {
	for _, m := range n {
		if !m.match(r) {
			return false
		}
	}
	return true
}

func (n orNode) match(r *Request) bool {
	for _, m := range n {
		if m.match(r) {
			return true
		}
	}
	return false
}

func (n notNode) match(r *Request) bool { return !n.m.match(r) }

// matcherSpec describes one matcher name: its canonical spelling (used in messages and
// suggestions), how many arguments it takes, and how to compile them.
type matcherSpec struct {
	name     string
	min, max int // max < 0 means any number; several values mean any of them
	build    func(args []arg) (matcher, *Error)
}

// matcherSpecs is the grammar's vocabulary. The single-value matchers accept several values,
// as Traefik v2 did, so v2 rules like Host(`a`, `b`) keep working.
var matcherSpecs = []matcherSpec{
	{name: "Host", min: 1, max: -1, build: buildHost},
	{name: "HostRegexp", min: 1, max: -1, build: buildHostRegexp},
	{name: "Path", min: 1, max: -1, build: buildPath},
	{name: "PathPrefix", min: 1, max: -1, build: buildPathPrefix},
	{name: "PathRegexp", min: 1, max: -1, build: buildPathRegexp},
	{name: "Method", min: 1, max: -1, build: buildMethod},
	{name: "Header", min: 2, max: 2, build: buildHeader},
	{name: "HeaderRegexp", min: 2, max: 2, build: buildHeaderRegexp},
	{name: "Query", min: 1, max: 2, build: buildQuery},
	{name: "QueryRegexp", min: 2, max: 2, build: buildQueryRegexp},
	{name: "ClientIP", min: 1, max: -1, build: buildClientIP},
}

// lookupMatcher finds a matcher by name, ignoring case: Traefik v3 is case-sensitive, but
// host(`a`) has only one sensible meaning and refusing it would only annoy.
func lookupMatcher(name string) *matcherSpec {
	for i := range matcherSpecs {
		if strings.EqualFold(matcherSpecs[i].name, name) {
			return &matcherSpecs[i]
		}
	}
	return nil
}

// checkArity returns an error message if n arguments do not suit s, or "".
func (s *matcherSpec) checkArity(n int) string {
	switch {
	case s.max < 0 && n < s.min:
		return fmt.Sprintf("%s takes at least %d argument, got %d", s.name, s.min, n)
	case s.max < 0 || n >= s.min && n <= s.max:
		return ""
	case s.min == s.max:
		return fmt.Sprintf("%s takes %d arguments, got %d", s.name, s.min, n)
	}
	return fmt.Sprintf("%s takes %d or %d arguments, got %d", s.name, s.min, s.max, n)
}

// hostMatcher matches the canonical request host against exact names and "*." patterns.
type hostMatcher struct {
	exact []string
	wild  []string // suffixes with their leading dot: ".example.com" for `*.example.com`
}

func (m *hostMatcher) match(r *Request) bool {
	h := r.Host
	for _, e := range m.exact {
		if h == e {
			return true
		}
	}
	for _, w := range m.wild {
		if matchWildSuffix(w, h) {
			return true
		}
	}
	return false
}

func buildHost(args []arg) (matcher, *Error) {
	m := &hostMatcher{}
	for _, a := range args {
		h, msg := canonHostArg(a.val)
		if msg != "" {
			return nil, errorf(a.pos, "%s", msg)
		}
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			m.wild = appendUnique(m.wild, suffix)
		} else {
			m.exact = appendUnique(m.exact, h)
		}
	}
	return m, nil
}

// regexpMatcher matches one request field against regexps; which field is chosen at parse
// time so that matching is a single indirect call.
type regexpMatcher struct {
	name  string // HostRegexp or PathRegexp, for debugging and tests
	field func(*Request) string
	res   []*regexp.Regexp
}

func (m *regexpMatcher) match(r *Request) bool {
	s := m.field(r)
	for _, re := range m.res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func requestHost(r *Request) string { return r.Host }
func requestPath(r *Request) string { return r.Path }

// buildHostRegexp compiles case-insensitively because hosts are case-insensitive and the
// request host is lowercased: `Example\.com` must still match. As in Traefik v3 the regexp
// is not anchored for the user.
func buildHostRegexp(args []arg) (matcher, *Error) {
	m := &regexpMatcher{name: "HostRegexp", field: requestHost}
	for _, a := range args {
		if t := findV2Template(a.val); t != "" {
			return nil, errorf(a.pos, "v2 template %q is not supported in v3 rules: write a plain regexp", t)
		}
		re, err := compileRegexp("(?i)", a)
		if err != nil {
			return nil, err
		}
		m.res = append(m.res, re)
	}
	return m, nil
}

func buildPathRegexp(args []arg) (matcher, *Error) {
	m := &regexpMatcher{name: "PathRegexp", field: requestPath}
	for _, a := range args {
		re, err := compileRegexp("", a)
		if err != nil {
			return nil, err
		}
		m.res = append(m.res, re)
	}
	return m, nil
}

// compileRegexp compiles a's value with flags prepended, reporting a syntax error at the
// argument with Go's own description of what is wrong.
func compileRegexp(flags string, a arg) (*regexp.Regexp, *Error) {
	re, err := regexp.Compile(flags + a.val)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = fmt.Sprintf("%s: %q", se.Code, se.Expr)
		}
		return nil, errorf(a.pos, "invalid regexp %q: %s", a.val, msg)
	}
	return re, nil
}

// pathMatcher matches the path exactly, or by plain string prefix (Traefik's PathPrefix
// semantics: `/api` also matches `/apiary`).
type pathMatcher struct {
	paths  []string
	prefix bool
}

func (m *pathMatcher) match(r *Request) bool {
	p := r.Path
	for _, want := range m.paths {
		if p == want || m.prefix && strings.HasPrefix(p, want) {
			return true
		}
	}
	return false
}

func buildPath(args []arg) (matcher, *Error)       { return buildPathMatcher(args, false) }
func buildPathPrefix(args []arg) (matcher, *Error) { return buildPathMatcher(args, true) }

// buildPathMatcher requires a leading "/" as Traefik v3 does: a normalized request path always
// has one, so a path without it could never match and is surely a mistake.
func buildPathMatcher(args []arg, prefix bool) (matcher, *Error) {
	m := &pathMatcher{prefix: prefix}
	for _, a := range args {
		if !strings.HasPrefix(a.val, "/") {
			return nil, errorf(a.pos, "path %q does not start with \"/\"", a.val)
		}
		if t := findV2Template(a.val); t != "" {
			return nil, errorf(a.pos, "v2 template %q is not supported in v3 rules: use PathRegexp", t)
		}
		m.paths = append(m.paths, a.val)
	}
	return m, nil
}

// findV2Template returns the first Traefik v2 path/host template ("{id}" or "{id:[0-9]+}") in
// s, or "". In v3 these are literal text, so a migrated v2 rule would silently never match;
// a parse error is kinder.
func findV2Template(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || i+1 >= len(s) || !isIdentStart(s[i+1]) {
			continue
		}
		j := i + 2
		for j < len(s) && isIdentPart(s[j]) {
			j++
		}
		if j < len(s) && (s[j] == '}' || s[j] == ':') {
			if end := strings.IndexByte(s[j:], '}'); end >= 0 {
				return s[i : j+end+1]
			}
		}
	}
	return ""
}

// methodMatcher compares methods exactly; arguments are uppercased at parse time so that
// Method(`get`) works while the request method is still compared case-sensitively.
type methodMatcher struct{ methods []string }

func (m *methodMatcher) match(r *Request) bool {
	for _, want := range m.methods {
		if r.Method == want {
			return true
		}
	}
	return false
}

func buildMethod(args []arg) (matcher, *Error) {
	m := &methodMatcher{}
	for _, a := range args {
		if a.val == "" || strings.ContainsAny(a.val, " \t") {
			return nil, errorf(a.pos, "invalid method %q", a.val)
		}
		m.methods = append(m.methods, strings.ToUpper(a.val))
	}
	return m, nil
}

// headerMatcher matches when any value of the header equals value (or matches re). The name
// is canonicalized at parse time so matching is a plain map index, as http.Header.Values
// would do after canonicalizing on every call.
type headerMatcher struct {
	key   string
	value string
	re    *regexp.Regexp // nil for Header
}

func (m *headerMatcher) match(r *Request) bool {
	for _, v := range r.Header[m.key] {
		if m.re != nil {
			if m.re.MatchString(v) {
				return true
			}
		} else if v == m.value {
			return true
		}
	}
	return false
}

func buildHeader(args []arg) (matcher, *Error) {
	if args[0].val == "" {
		return nil, errorf(args[0].pos, "empty header name")
	}
	return &headerMatcher{key: textproto.CanonicalMIMEHeaderKey(args[0].val), value: args[1].val}, nil
}

func buildHeaderRegexp(args []arg) (matcher, *Error) {
	if args[0].val == "" {
		return nil, errorf(args[0].pos, "empty header name")
	}
	re, err := compileRegexp("", args[1])
	if err != nil {
		return nil, err
	}
	return &headerMatcher{key: textproto.CanonicalMIMEHeaderKey(args[0].val), re: re}, nil
}

// clientIPMatcher matches the client address against prefixes; a single address is kept as
// a full-length prefix so there is one code path.
type clientIPMatcher struct{ prefixes []netip.Prefix }

func (m *clientIPMatcher) match(r *Request) bool {
	// Unmap so ::ffff:10.0.0.1 from a dual-stack listener matches 10.0.0.0/8, and drop the
	// zone because netip.Prefix.Contains never matches a zoned address.
	ip := r.ClientIP.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	for _, p := range m.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func buildClientIP(args []arg) (matcher, *Error) {
	m := &clientIPMatcher{}
	for _, a := range args {
		p, ok := parseClientIP(a.val)
		if !ok {
			return nil, errorf(a.pos, "invalid IP address or CIDR %q", a.val)
		}
		m.prefixes = append(m.prefixes, p)
	}
	return m, nil
}

// parseClientIP parses an address or CIDR into a masked prefix. IPv4-mapped forms are turned
// into IPv4 because requests are unmapped before matching; a mapped prefix shorter than /96
// covers more than the mapped range and is left as IPv6.
func parseClientIP(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
