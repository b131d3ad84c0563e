package rule

import (
	"net/url"
	"regexp"
	"strings"
)

// queryScanLimit is the number of "&" beyond which queryMatcher hands the query to
// url.ParseQuery instead of scanning it. ParseQuery refuses queries with more parameters than
// its limit (10,000 by default, GODEBUG urlmaxqueryparams), returning none; deferring to it for
// big queries keeps Query's view identical to what the backend's net/url would see, without
// copying the limit or its GODEBUG here.
const queryScanLimit = 1000

// queryMatcher implements Query(key), Query(key, value) and QueryRegexp(key, re).
//
// It scans RawQuery in place instead of building url.Values: a rule with no Query matcher
// never touches the query, and one with a Query matcher allocates only when a key or value
// needs unescaping. The scan follows url.ParseQuery exactly: pairs split on "&", a pair
// containing ";" or an invalid escape is skipped, "+" is a space.
type queryMatcher struct {
	key      string
	value    string
	hasValue bool           // Query(key, value); otherwise Query(key) or QueryRegexp
	re       *regexp.Regexp // QueryRegexp
}

func (m *queryMatcher) match(r *Request) bool {
	raw := r.RawQuery
	if strings.Count(raw, "&") >= queryScanLimit {
		return m.matchParsed(raw)
	}
	for raw != "" {
		pair, eq, escaped, semicolon := nextQueryPair(raw)
		raw = raw[min(len(pair)+1, len(raw)):]
		if pair == "" || semicolon {
			continue
		}
		k, v := pair, ""
		if eq >= 0 {
			k, v = pair[:eq], pair[eq+1:]
		}
		if escaped {
			var ok1, ok2 bool
			if k, ok1 = queryUnescape(k); !ok1 || k != m.key {
				continue
			}
			if v, ok2 = queryUnescape(v); !ok2 {
				continue
			}
		} else if k != m.key {
			continue
		}
		if m.test(v) {
			return true
		}
	}
	return false
}

// nextQueryPair returns the pair before the first "&" of raw in one pass, with the index of
// its first "=" (or -1) and whether it contains "%" or "+" (needs unescaping) or ";" (which
// url.ParseQuery rejects). One byte loop is several times faster here than a chain of
// strings.Cut and strings.ContainsAny calls.
func nextQueryPair(raw string) (pair string, eq int, escaped, semicolon bool) {
	eq = -1
	i := 0
	for ; i < len(raw) && raw[i] != '&'; i++ {
		switch raw[i] {
		case '=':
			if eq < 0 {
				eq = i
			}
		case '%', '+':
			escaped = true
		case ';':
			semicolon = true
		}
	}
	return raw[:i], eq, escaped, semicolon
}

func (m *queryMatcher) matchParsed(raw string) bool {
	vals, _ := url.ParseQuery(raw) // like Request.URL.Query, keep what parsed
	for _, v := range vals[m.key] {
		if m.test(v) {
			return true
		}
	}
	return false
}

func (m *queryMatcher) test(v string) bool {
	switch {
	case m.re != nil:
		return m.re.MatchString(v)
	case m.hasValue:
		return v == m.value
	}
	return true // Query(key): present, whatever the value
}

// queryUnescape is url.QueryUnescape without the allocation when there is nothing to unescape.
func queryUnescape(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

func buildQuery(args []arg) (matcher, *Error) {
	if err := checkQueryKey(args[0]); err != nil {
		return nil, err
	}
	m := &queryMatcher{key: args[0].val}
	if len(args) == 2 {
		m.value, m.hasValue = args[1].val, true
	}
	return m, nil
}

func buildQueryRegexp(args []arg) (matcher, *Error) {
	if err := checkQueryKey(args[0]); err != nil {
		return nil, err
	}
	re, err := compileRegexp("", args[1])
	if err != nil {
		return nil, err
	}
	return &queryMatcher{key: args[0].val, re: re}, nil
}

// checkQueryKey rejects an empty key and a key containing "=". The latter is Traefik v2's
// Query(`key=value`) form, which v3 reads as a key named "key=value" that a request can
// only carry percent-encoded: a migrated rule would silently never match.
func checkQueryKey(a arg) *Error {
	if a.val == "" {
		return errorf(a.pos, "empty query key")
	}
	if k, v, ok := strings.Cut(a.val, "="); ok {
		return errorf(a.pos, "query key %q contains \"=\": write Query(`%s`, `%s`)", a.val, k, v)
	}
	return nil
}
