package router

import (
	"errors"
	"net/url"
	"strings"
)

// errBadPath is answered 400: the path cannot be routed safely.
var errBadPath = errors.New("bad request path")

// NormalizePath returns the canonical form of an escaped request path, the one form that is
// both routed and forwarded, so a backend never sees a path the rules did not see:
//
//   - percent-encoded unreserved characters are decoded (%2e -> ., %41 -> A), other escapes
//     are kept with upper-case hex;
//   - dot segments are resolved and repeated slashes merged (/a/./b//../c -> /a/c);
//   - encoded slashes, backslashes and NUL (%2F, %5C, %00) are refused: a backend that
//     decodes them would see other segments than the router did;
//   - a dot segment with parameters ("..;x", ".;", "..%3B") is refused: Tomcat and other
//     servlet containers drop ";parameters" before resolving dot segments, so they would
//     read /public/..;/admin as /admin while the router saw a path under /public;
//   - a malformed escape is refused.
//
// Normalizing twice changes nothing (fuzzed). The common path, with no '%', no "//" and no
// dot segment, is returned as is without allocating.
func NormalizePath(escaped string) (string, error) {
	if escaped == "" || escaped == "*" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", errBadPath
	}
	if !needsNormalizing(escaped) {
		return escaped, nil
	}
	decoded, err := decodeUnreserved(escaped)
	if err != nil {
		return "", err
	}
	if dotSegmentWithParams(decoded) {
		return "", errBadPath
	}
	return removeDotSegments(decoded), nil
}

// dotSegmentWithParams reports whether a segment is "." or ".." followed by ";" (raw or
// as %3B, which decodeUnreserved has upper-cased).
func dotSegmentWithParams(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '/' || p[i+1] != '.' {
			continue
		}
		rest := p[i+2:]
		rest = strings.TrimPrefix(rest, ".")
		if strings.HasPrefix(rest, ";") || strings.HasPrefix(rest, "%3B") {
			return true
		}
	}
	return false
}

// needsNormalizing reports whether p has an escape, an empty or dot segment, or a byte that
// an escaped path never holds (which the slow path refuses).
func needsNormalizing(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%':
			return true
		case c == '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return true
			}
		case !pathByte[c]:
			return true
		}
	}
	return false
}

// pathByte holds the bytes url.URL.EscapedPath leaves unescaped: unreserved, sub-delims,
// ':', '@', '/', and the '[' ']' browsers leave alone. Anything else in a path that claims
// to be escaped (a raw backslash, space, control or non-ASCII byte) is refused.
var pathByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isUnreserved(byte(c)) || strings.IndexByte("!$&'()*+,;=:@/[]", byte(c)) >= 0
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

func decodeUnreserved(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if !pathByte[c] {
				return "", errBadPath
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errBadPath
		}
		v := unhex(s[i+1])<<4 | unhex(s[i+2])
		i += 2
		switch {
		case v == '/' || v == '\\' || v == 0:
			return "", errBadPath
		case isUnreserved(v):
			b.WriteByte(v)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[v>>4])
			b.WriteByte(upperHex[v&15])
		}
	}
	return b.String(), nil
}

// removeDotSegments is RFC 3986 section 5.2.4 plus merging of empty segments.
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for _, s := range segs {
		trailing = false
		switch s {
		case "", ".":
			trailing = true
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = true
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		res += "/"
	}
	return res
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// setPath stores the canonical escaped path on u, keeping Path (decoded) and RawPath
// consistent so that httputil.ReverseProxy forwards exactly what was routed.
func setPath(u *url.URL, canonical string) {
	dec, err := url.PathUnescape(canonical)
	if err != nil {
		dec = canonical
	}
	u.Path = dec
	u.RawPath = canonical
}
