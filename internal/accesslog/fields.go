package accesslog

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// mode is what happens to a field or a header: written, left out, or written as "REDACTED".
type mode uint8

const (
	keep mode = iota
	drop
	redact
)

const redacted = "REDACTED"

func parseMode(s string) (mode, error) {
	switch strings.ToLower(s) {
	case "", "keep":
		return keep, nil
	case "drop":
		return drop, nil
	case "redact":
		return redact, nil
	}
	return keep, fmt.Errorf("mode %q is not keep, drop or redact", s)
}

// field is one access log field. The JSON keys are Traefik's, so accessLog.fields.names
// written for Traefik applies unchanged and log pipelines that parse Traefik's JSON keep
// working.
type field uint8

const (
	fClientAddr field = iota
	fClientHost
	fRequestMethod
	fRequestHost
	fRequestPath
	fRequestProtocol
	fDownstreamStatus
	fDownstreamContentSize
	fRequestContentSize
	fDuration
	fRouterName
	fServiceName
	fServiceAddr
	fEntryPointName
	fRequestID
	fUserAgent
	fRetryAttempts
	numFields
)

var fieldNames = [numFields]string{
	fClientAddr:            "ClientAddr",
	fClientHost:            "ClientHost",
	fRequestMethod:         "RequestMethod",
	fRequestHost:           "RequestHost",
	fRequestPath:           "RequestPath",
	fRequestProtocol:       "RequestProtocol",
	fDownstreamStatus:      "DownstreamStatus",
	fDownstreamContentSize: "DownstreamContentSize",
	fRequestContentSize:    "RequestContentSize",
	fDuration:              "Duration",
	fRouterName:            "RouterName",
	fServiceName:           "ServiceName",
	fServiceAddr:           "ServiceAddr",
	fEntryPointName:        "entryPointName",
	fRequestID:             "RequestID",
	fUserAgent:             "UserAgent",
	fRetryAttempts:         "RetryAttempts",
}

// traefikOnly are Traefik field names wharf does not write. Naming them in
// accessLog.fields.names is accepted, so a Traefik configuration loads, and does nothing.
var traefikOnly = []string{"StartUTC", "StartLocal", "ServiceURL", "ClientPort", "ClientUsername",
	"RequestAddr", "RequestPort", "RequestScheme", "RequestCount", "OriginDuration",
	"OriginContentSize", "OriginStatus", "Overhead", "GzipRatio", "TLSVersion", "TLSCipher",
	"TLSClientSubject", "TraceId", "SpanId"}

// fieldModes resolves accessLog.fields once: a mode per field, in an array the request path
// indexes without a map lookup.
func fieldModes(def string, names map[string]string) ([numFields]mode, error) {
	var out [numFields]mode
	d, err := parseMode(def)
	if err != nil {
		return out, fmt.Errorf("fields.defaultMode: %w", err)
	}
	for i := range out {
		out[i] = d
	}
	known := append(fieldNames[:], traefikOnly...)
	for _, name := range sortedKeys(names) {
		m, err := parseMode(names[name])
		if err != nil {
			return out, fmt.Errorf("fields.names.%s: %w", name, err)
		}
		i := fieldIndex(name)
		if i < 0 {
			if containsFold(known, name) {
				continue
			}
			return out, fmt.Errorf("fields.names: unknown field %q%s", name, dynamic.DidYouMean(name, known))
		}
		out[i] = m
	}
	return out, nil
}

func fieldIndex(name string) int {
	for i, n := range fieldNames {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// headerRules resolves accessLog.fields.headers. Headers are dropped by default (they carry
// credentials); those named are written as "request_<Name>".
type headerRules struct {
	def   mode
	named []namedHeader // the headers named with keep or redact, when def is drop
	modes map[string]mode
}

type namedHeader struct {
	name, key string // canonical name, JSON key
	mode      mode
}

func newHeaderRules(def string, names map[string]string) (headerRules, error) {
	var h headerRules
	var err error
	if h.def, err = parseMode(def); err != nil {
		return h, fmt.Errorf("fields.headers.defaultMode: %w", err)
	}
	if def == "" {
		h.def = drop
	}
	h.modes = map[string]mode{}
	for _, name := range sortedKeys(names) {
		m, err := parseMode(names[name])
		if err != nil {
			return h, fmt.Errorf("fields.headers.names.%s: %w", name, err)
		}
		c := http.CanonicalHeaderKey(name)
		if sensitiveHeader(c) && m == keep {
			m = redact // never written in clear, whatever the configuration says
		}
		h.modes[c] = m
		if m != drop {
			h.named = append(h.named, namedHeader{name: c, key: "request_" + c, mode: m})
		}
	}
	return h, nil
}

// modeOf is the mode of one header when every header is considered (default keep or redact).
func (h *headerRules) modeOf(name string) mode {
	m, ok := h.modes[name]
	if !ok {
		m = h.def
	}
	if m == keep && sensitiveHeader(name) {
		m = redact
	}
	return m
}

// sensitiveHeader reports the headers that are never logged in clear: credentials, cookies,
// and anything whose name says it holds a secret (X-Api-Key, X-Auth-Token).
func sensitiveHeader(name string) bool {
	switch name {
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie":
		return true
	}
	return secretName(name)
}

// secretWords are the parts of a query parameter or header name that mark its value as a
// secret. Matching is by substring, case-insensitively: redacting one harmless value too many
// is cheap, logging one token is not.
var secretWords = []string{"token", "secret", "passw", "pwd", "apikey", "api_key", "api-key", "auth",
	"signature", "session", "credential", "jwt", "private", "cookie"}

// secretExact are short names that are secrets on their own but too short to match inside
// other words ("key" in "monkey").
var secretExact = []string{"key", "sig", "code", "otp", "pass", "sid", "x-amz-security-token"}

func secretName(name string) bool {
	for _, w := range secretWords {
		if indexFold(name, w) >= 0 {
			return true
		}
	}
	for _, w := range secretExact {
		if len(name) == len(w) && indexFold(name, w) == 0 {
			return true
		}
	}
	return false
}

// indexFold is strings.Index, ASCII case-insensitive, for a lower-case needle, without
// allocating.
func indexFold(s, lowerSub string) int {
	n := len(lowerSub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerSub[j] {
				break
			}
		}
		if j == n {
			return i
		}
	}
	return -1
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
