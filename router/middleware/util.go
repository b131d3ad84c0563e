package middleware

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

func quote(s string) string { return strconv.Quote(s) }
func itoa(i int) string     { return strconv.Itoa(i) }

// headerValue returns a one-element slice whose capacity is also one, so that a slice built
// once at compile time can be stored in many requests' headers: an append by anyone copies
// instead of writing into the shared array.
func headerValue(v string) []string { return []string{v}[:1:1] }

// hopHeaders are the connection-level headers of RFC 9110 §7.6.1, never copied between
// messages.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, c := range h["Connection"] {
		for _, f := range strings.Split(c, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// redirectStatus is what Traefik v3 answers: 301/302 for GET and HEAD, and 308/307
// otherwise, so a client never turns a POST into a GET on the way.
func redirectStatus(method string, permanent bool) int {
	safe := method == http.MethodGet || method == http.MethodHead
	switch {
	case permanent && safe:
		return http.StatusMovedPermanently
	case permanent:
		return http.StatusPermanentRedirect
	case safe:
		return http.StatusFound
	}
	return http.StatusTemporaryRedirect
}

func redirect(w http.ResponseWriter, location string, status int) {
	w.Header()["Location"] = []string{location}
	w.WriteHeader(status)
}

// idempotent reports whether replaying r cannot change anything that its first sending did
// not (RFC 9110 §9.2.2), including requests that carry an idempotency key, which Go's own
// transport also treats as replayable.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return len(r.Header["Idempotency-Key"]) > 0 || len(r.Header["X-Idempotency-Key"]) > 0
}

// statusRanges is a set of HTTP status codes written as "500-599,404".
type statusRanges [][2]int

func parseStatusRanges(list []string) (statusRanges, error) {
	var out statusRanges
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			lo, hi, found := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b := a
			var err2 error
			if found {
				b, err2 = strconv.Atoi(strings.TrimSpace(hi))
			}
			if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
				return nil, &listError{value: s, msg: "is not a status or a range of statuses between 100 and 599 (like 404 or 500-599)"}
			}
			out = append(out, [2]int{a, b})
		}
	}
	return out, nil
}

// withhold makes the errors middleware's ranges the decision of its holdWriter.
func (rs *statusRanges) withhold(code int) bool { return rs.contains(code) }

func (rs statusRanges) contains(code int) bool {
	for _, r := range rs {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
