package rule

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokenKind is the kind of a lexical token.
type tokenKind uint8

const (
	tokEOF    tokenKind = iota
	tokIdent            // matcher name
	tokString           // `raw` or "escaped"; val holds the decoded text
	tokLParen
	tokRParen
	tokComma
	tokAnd // &&
	tokOr  // ||
	tokNot // !
)

// token is one lexical token. pos and end are byte offsets into the rule, so every error the
// parser reports can point at the token that caused it.
type token struct {
	kind tokenKind
	pos  int
	end  int
	val  string // identifier text or decoded string value
}

// lexer turns a rule into tokens on demand. It is pulled by the parser one token at a time so
// that a syntax error is reported before a later lexical error would be: in Host(example.com)
// the user is told to quote the argument, not that "." is an unexpected character.
type lexer struct {
	src string
	pos int
}

// next returns the next token or a lexical error.
func (l *lexer) next() (token, *Error) {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	start := l.pos
	if start == len(l.src) {
		return token{kind: tokEOF, pos: start, end: start}, nil
	}
	c := l.src[start]
	switch {
	case c == '(':
		return l.single(tokLParen), nil
	case c == ')':
		return l.single(tokRParen), nil
	case c == ',':
		return l.single(tokComma), nil
	case c == '!':
		return l.single(tokNot), nil
	case c == '&' || c == '|':
		return l.operator(c)
	case c == '`':
		return l.rawString()
	case c == '"':
		return l.quotedString()
	case isIdentStart(c):
		for l.pos++; l.pos < len(l.src) && isIdentPart(l.src[l.pos]); l.pos++ {
		}
		return token{kind: tokIdent, pos: start, end: l.pos, val: l.src[start:l.pos]}, nil
	case c == '\'':
		return token{}, &Error{Offset: start, Msg: `unexpected "'": quote strings with backticks or double quotes`}
	}
	r, size := utf8.DecodeRuneInString(l.src[start:])
	if r == utf8.RuneError && size == 1 {
		return token{}, &Error{Offset: start, Msg: fmt.Sprintf("invalid UTF-8 byte 0x%02x", c)}
	}
	return token{}, &Error{Offset: start, Msg: fmt.Sprintf("unexpected character %q", string(r))}
}

func (l *lexer) single(k tokenKind) token {
	l.pos++
	return token{kind: k, pos: l.pos - 1, end: l.pos}
}

// operator lexes "&&" or "||". A single "&" or "|" is a common slip, so it gets its own message.
func (l *lexer) operator(c byte) (token, *Error) {
	start := l.pos
	if start+1 < len(l.src) && l.src[start+1] == c {
		l.pos += 2
		kind := tokAnd
		if c == '|' {
			kind = tokOr
		}
		return token{kind: kind, pos: start, end: l.pos}, nil
	}
	return token{}, &Error{Offset: start, Msg: fmt.Sprintf("unexpected %q, did you mean %q?", string(c), string(c)+string(c))}
}

// rawString lexes a backtick string: everything up to the next backtick, verbatim.
func (l *lexer) rawString() (token, *Error) {
	start := l.pos
	n := strings.IndexByte(l.src[start+1:], '`')
	if n < 0 {
		return token{}, &Error{Offset: start, Msg: "unterminated string"}
	}
	l.pos = start + 1 + n + 1
	return token{kind: tokString, pos: start, end: l.pos, val: l.src[start+1 : start+1+n]}, nil
}

// quotedString lexes a double-quoted string with Go escapes (\" \\ \n \x41 \u00e9 ...), the
// same set Traefik's parser accepts. A string without escapes is returned as a substring of
// the rule, so the common case does not allocate.
func (l *lexer) quotedString() (token, *Error) {
	start := l.pos
	i := start + 1
	for ; i < len(l.src); i++ {
		switch l.src[i] {
		case '"':
			l.pos = i + 1
			return token{kind: tokString, pos: start, end: l.pos, val: l.src[start+1 : i]}, nil
		case '\n':
			return token{}, &Error{Offset: i, Msg: "newline in string"}
		case '\\':
			return l.unescape(start, i)
		}
	}
	return token{}, &Error{Offset: start, Msg: "unterminated string"}
}

// unescape finishes a double-quoted string that starts at start and has its first backslash
// at i, decoding escapes with strconv.UnquoteChar so that an invalid one is reported at its
// own offset.
func (l *lexer) unescape(start, i int) (token, *Error) {
	var b strings.Builder
	b.WriteString(l.src[start+1 : i])
	for i < len(l.src) {
		switch c := l.src[i]; c {
		case '"':
			l.pos = i + 1
			return token{kind: tokString, pos: start, end: l.pos, val: b.String()}, nil
		case '\n':
			return token{}, &Error{Offset: i, Msg: "newline in string"}
		case '\\':
			r, multibyte, tail, err := strconv.UnquoteChar(l.src[i:], '"')
			if err != nil {
				return token{}, &Error{Offset: i, Msg: "invalid escape sequence in string"}
			}
			if multibyte {
				b.WriteRune(r)
			} else {
				// \xff and octal escapes denote raw bytes, as in Go string literals.
				b.WriteByte(byte(r))
			}
			i = len(l.src) - len(tail)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return token{}, &Error{Offset: start, Msg: "unterminated string"}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

// describe names a token for an error message: `got "&&"`, `got string "a"`.
func (t token) describe(src string) string {
	switch t.kind {
	case tokEOF:
		return "end of rule"
	case tokString:
		return "string " + src[t.pos:t.end]
	}
	return strconv.Quote(src[t.pos:t.end])
}
