package middleware

import (
	"net/http"
	"net/netip"

	"github.com/wharfproxy/wharf/router/upstream"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// ipAllowList lets through only clients whose address is in one of the source ranges.
var ipAllowListType = Type{Name: "ipAllowList", New: newIPAllowList}

// ipWhiteList is Traefik v2's name for ipAllowList, kept so v2 configurations carry over.
var ipWhiteListType = Type{Name: "ipWhiteList", New: newIPAllowList}

type ipAllowListOptions struct {
	SourceRange      []string
	IPStrategy       *ipStrategyOptions `wharf:"ipStrategy"`
	RejectStatusCode int
}

func newIPAllowList(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o ipAllowListOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if len(o.SourceRange) == 0 {
		return nil, env.Invalid(opts, "sourceRange", "sourceRange is empty: list the addresses or CIDR ranges to allow, for example 10.0.0.0/8,192.168.1.7")
	}
	ranges, err := parsePrefixes(o.SourceRange)
	if err != nil {
		return nil, env.Invalid(opts, "sourceRange", "%v", err)
	}
	strategy, err := newIPStrategy(env, opts, "ipStrategy", o.IPStrategy)
	if err != nil {
		return nil, err
	}
	reject := http.StatusForbidden
	if o.RejectStatusCode != 0 {
		if o.RejectStatusCode < 100 || o.RejectStatusCode > 599 {
			return nil, env.Invalid(opts, "rejectStatusCode", "rejectStatusCode must be an HTTP status between 100 and 599, not %d", o.RejectStatusCode)
		}
		reject = o.RejectStatusCode
	}
	a := &allowList{ranges: ranges, strategy: strategy, reject: reject}
	return func(next http.Handler) http.Handler {
		return &allowListHandler{allowList: a, next: next}
	}, nil
}

type allowList struct {
	ranges   []netip.Prefix
	strategy *ipStrategy
	reject   int
}

type allowListHandler struct {
	*allowList
	next http.Handler
}

func (h *allowListHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ip, ok := h.strategy.clientIP(r); ok && containsAddr(h.ranges, ip) {
		h.next.ServeHTTP(w, r)
		return
	}
	upstream.WriteError(w, h.reject)
}
