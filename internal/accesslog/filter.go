package accesslog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// filter keeps a request when any configured filter matches it, and every request when none
// is configured (Traefik's semantics).
type filter struct {
	any         bool
	ranges      [][2]int
	retries     bool
	minDuration time.Duration
}

func newFilter(codes []string, retries bool, minDuration time.Duration) (filter, error) {
	f := filter{retries: retries, minDuration: minDuration}
	for _, c := range codes {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(c), "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || b < a {
			return f, fmt.Errorf("filters.statusCodes: %q is not a status code or range: write \"404\" or \"500-599\"", c)
		}
		f.ranges = append(f.ranges, [2]int{a, b})
	}
	f.any = len(f.ranges) > 0 || retries || minDuration > 0
	return f, nil
}

func (f *filter) keep(status int, d time.Duration, retries int) bool {
	if !f.any {
		return true
	}
	for _, r := range f.ranges {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	if f.retries && retries > 0 {
		return true
	}
	return f.minDuration > 0 && d > f.minDuration
}
