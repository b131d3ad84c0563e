// Package rule parses and evaluates router rule expressions in the grammar users already know
// from Traefik v3: Host(`example.com`) && PathPrefix(`/api`).
//
// A rule is parsed once, when a routing table is compiled, into a tree of small matchers, so
// that matching a request does no parsing and, for the common matchers, no allocation. Parse
// errors carry the byte offset of the problem so that a bad label can be pointed at precisely.
//
// The grammar, informally:
//
//	expr    = and { "||" and }
//	and     = unary { "&&" unary }
//	unary   = { "!" } primary
//	primary = "(" expr ")" | matcher
//	matcher = name "(" [ string { "," string } ] ")"
//	string  = "`" raw text "`" | '"' text with Go escapes '"'
//
// Matcher names are accepted in any case (Traefik v3 itself is case-sensitive), and the
// matchers that take one value in Traefik v3 also accept several, meaning any of them, as
// Traefik v2 did: being lenient here makes migrating a v2 stack a non-event.
package rule

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
)

// Request is what a rule is matched against. The router fills it once per request, so that
// every rule of a table sees the same canonical values and no matcher repeats the work.
type Request struct {
	// Host is the request's host in canonical form: see CanonicalHost. Host matchers compare
	// it byte for byte, so a non-canonical value simply fails to match.
	Host string
	// Path is the normalized request path; Path matchers compare it as is.
	Path string
	// Method is the request method, compared case-sensitively (methods are case-sensitive
	// per RFC 9110, section 9.1).
	Method string
	// Header holds the request headers, keyed canonically as net/http does.
	Header http.Header
	// RawQuery is the query without the "?". It is only read when a Query or QueryRegexp
	// matcher runs, and then scanned in place rather than parsed into a map.
	RawQuery string
	// ClientIP is the client's address. It may be an IPv4-mapped IPv6 address or carry a
	// zone: ClientIP matchers unmap it and drop the zone themselves.
	ClientIP netip.Addr
}

// Rule is a parsed rule expression. It is immutable after Parse and safe for concurrent use.
type Rule struct {
	expr string
	root matcher

	// Computed at parse time: the router and the TLS manager ask for them once per table,
	// but computing them once keeps Rule free of lazy state and locks.
	hosts       []string
	consExact   []string
	consWild    []string
	constrained bool
}

// Parse parses a rule expression. Errors are of type *Error.
func Parse(expr string) (*Rule, error) {
	p := newParser(expr)
	root, err := p.parseRule()
	if err != nil {
		return nil, err
	}
	r := &Rule{expr: expr, root: root}
	r.hosts = collectHosts(root, true, nil)
	if c, ok := hostConstraint(root); ok {
		r.consExact, r.consWild, r.constrained = c.exact, c.wild, true
	}
	return r, nil
}

// MustParse is like Parse but panics on error. It is meant for rules fixed in code and tests,
// never for user input.
func MustParse(expr string) *Rule {
	r, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return r
}

// Match reports whether req satisfies the rule. It does not modify req.
func (r *Rule) Match(req *Request) bool {
	return r.root.match(req)
}

// String returns the expression exactly as it was given to Parse, so that it can be shown
// back to the user and so that Traefik's default priority (the rule's length) is unchanged.
func (r *Rule) String() string {
	return r.expr
}

// HostConstraint reports the hosts a request must have for the rule to match, so the router
// can index routes by host and the TLS manager can decide which names a route can ever serve.
//
// ok is false when the rule does not restrict the host to a finite set: some branch has no
// Host matcher, or the host is only constrained by HostRegexp or under a "!". exact holds
// canonical names; wildcards holds the suffixes of "*." patterns without the "*."
// ("example.com" for `*.example.com`). If ok, Match(req) implies req.Host is in exact or is
// one label followed by "." and one of wildcards. ok with both lists empty means no host can
// ever match (for example Host(`a`) && Host(`b`)).
//
// The slices are fresh copies the caller may keep or modify.
func (r *Rule) HostConstraint() (exact []string, wildcards []string, ok bool) {
	if !r.constrained {
		return nil, nil, false
	}
	return slices.Clone(r.consExact), slices.Clone(r.consWild), true
}

// Hosts returns the exact (non-wildcard) Host names that appear in a non-negated position
// (under an even number of "!"), deduplicated, in order of appearance. They are the names a
// route may need certificates for; a name under "!" is one the route refuses, so it is left
// out. The slice is a fresh copy.
func (r *Rule) Hosts() []string {
	return slices.Clone(r.hosts)
}

// Error is a rule parse error. Offset is a byte offset into Rule, so that a tool can point at
// the exact spot in a label or a file.
type Error struct {
	Rule   string // the whole expression as given to Parse
	Offset int    // byte offset into Rule where the problem was found
	Msg    string // lowercase description, without the rule or offset
}

// Error formats the error as: rule "<rule>": offset <N>: <msg>.
func (e *Error) Error() string {
	return fmt.Sprintf("rule %q: offset %d: %s", e.Rule, e.Offset, e.Msg)
}
