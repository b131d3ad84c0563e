package accesslog

import "strconv"

// clfTime is the Common Log Format's timestamp layout.
const clfTime = "02/Jan/2006:15:04:05 -0700"

// appendCommon appends one line in Traefik's Common Log Format:
//
//	<client> - - [<time>] "<method> <path> <protocol>" <status> <bytes> "-" "<user agent>" <request id> "<router>" "<upstream>" <duration>ms
//
// Traefik writes the request count where wharf writes the request id, and the referer,
// which can carry tokens in its query, is never written. Every quoted value is escaped, so a
// client cannot forge a line or a field.
func (l *Logger) appendCommon(b []byte, e *Entry) []byte {
	b = l.appendBare(b, fClientHost, clientHost(e.ClientAddr))
	b = append(b, " - - ["...)
	b = e.Start.AppendFormat(b, clfTime)
	b = append(b, "] \""...)
	b = l.appendEscaped(b, fRequestMethod, e.Method)
	b = append(b, ' ')
	switch l.modes[fRequestPath] {
	case keep:
		start := len(b)
		b = appendPathQuery(b, e.Path, e.RawQuery)
		b = escapeInPlace(b, start)
	case redact:
		b = append(b, redacted...)
	default:
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = l.appendEscaped(b, fRequestProtocol, e.Proto)
	b = append(b, "\" "...)
	b = l.appendInt(b, fDownstreamStatus, int64(e.Status))
	b = append(b, ' ')
	b = l.appendInt(b, fDownstreamContentSize, e.Bytes)
	b = append(b, ` "-" "`...)
	b = l.appendEscaped(b, fUserAgent, e.UserAgent)
	b = append(b, "\" "...)
	if l.modes[fRequestID] == keep {
		start := len(b)
		b = l.appendRequestID(b, e.RequestID)
		b = escapeInPlace(b, start)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = l.appendEscaped(b, fRouterName, e.Router)
	b = append(b, "\" \""...)
	b = l.appendEscaped(b, fServiceAddr, e.Upstream)
	b = append(b, "\" "...)
	if l.modes[fDuration] == keep {
		b = strconv.AppendInt(b, e.Duration.Milliseconds(), 10)
		b = append(b, "ms"...)
	} else {
		b = append(b, '-')
	}
	return append(b, '\n')
}

func (l *Logger) appendBare(b []byte, f field, v string) []byte {
	if l.modes[f] != keep || v == "" {
		return append(b, '-')
	}
	return appendEscaped(b, v)
}

func (l *Logger) appendEscaped(b []byte, f field, v string) []byte {
	switch {
	case l.modes[f] == redact:
		return append(b, redacted...)
	case l.modes[f] == drop || v == "":
		return append(b, '-')
	}
	return appendEscaped(b, v)
}

func (l *Logger) appendInt(b []byte, f field, v int64) []byte {
	if l.modes[f] != keep {
		return append(b, '-')
	}
	return strconv.AppendInt(b, v, 10)
}

// appendEscaped appends s with quotes and backslashes escaped by a backslash and control
// characters as \xHH, so that one request is always one line of well-formed fields.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b = appendByte(b, s[i])
	}
	return b
}

func appendByte(b []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch {
	case c == '"' || c == '\\':
		return append(b, '\\', c)
	case c < 0x20 || c == 0x7f:
		return append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
	}
	return append(b, c)
}

// escapeInPlace escapes b[start:], which was just appended. It copies only when something
// needs escaping, which a well-formed request never does.
func escapeInPlace(b []byte, start int) []byte {
	i := start
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			break
		}
	}
	if i == len(b) {
		return b
	}
	tail := append([]byte(nil), b[i:]...)
	b = b[:i]
	for _, c := range tail {
		b = appendByte(b, c)
	}
	return b
}
