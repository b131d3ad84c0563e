package docker

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// constraint decides from its labels whether a container is for this wharf at all, so that
// several wharf instances can share one engine. The syntax is Traefik's:
//
//	Label(`team`, `blog`) && !LabelRegex(`env`, `^dev`)
//
// Label matches a label whose value equals the given one; LabelRegex (also spelt
// LabelRegexp) matches a label whose value the regular expression matches anywhere, as in
// Traefik (anchor it with ^ and $ to match the whole value). Label keys are compared
// case-insensitively, like every wharf label key.
type constraint interface {
	match(labels map[string]string) bool
}

type (
	andExpr   struct{ l, r constraint }
	orExpr    struct{ l, r constraint }
	notExpr   struct{ x constraint }
	labelExpr struct {
		key   string
		value string
		re    *regexp.Regexp // nil: compare value
	}
)

func (e andExpr) match(l map[string]string) bool { return e.l.match(l) && e.r.match(l) }
func (e orExpr) match(l map[string]string) bool  { return e.l.match(l) || e.r.match(l) }
func (e notExpr) match(l map[string]string) bool { return !e.x.match(l) }

func (e labelExpr) match(labels map[string]string) bool {
	for k, v := range labels {
		if !strings.EqualFold(k, e.key) {
			continue
		}
		if e.re != nil && e.re.MatchString(v) || e.re == nil && v == e.value {
			return true
		}
	}
	return false
}

// parseConstraints parses a constraints expression; "" means every container matches.
func parseConstraints(src string) (constraint, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	p := &cparser{src: src}
	c, err := p.or()
	if err == nil && p.skipSpace() < len(src) {
		err = p.errorf("unexpected %q after the expression", p.rest())
	}
	if err != nil {
		return nil, fmt.Errorf("constraints %q: %w", src, err)
	}
	return c, nil
}

// cparser is a recursive-descent parser over the constraint string; errors carry the byte
// offset so a long expression's mistake can be found.
type cparser struct {
	src string
	pos int
}

func (p *cparser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *cparser) skipSpace() int {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
	return p.pos
}

func (p *cparser) rest() string {
	r := p.src[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

// accept consumes tok when it comes next.
func (p *cparser) accept(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *cparser) or() (constraint, error) {
	l, err := p.and()
	for err == nil && p.accept("||") {
		var r constraint
		if r, err = p.and(); err == nil {
			l = orExpr{l, r}
		}
	}
	return l, err
}

func (p *cparser) and() (constraint, error) {
	l, err := p.unary()
	for err == nil && p.accept("&&") {
		var r constraint
		if r, err = p.unary(); err == nil {
			l = andExpr{l, r}
		}
	}
	return l, err
}

func (p *cparser) unary() (constraint, error) {
	switch {
	case p.accept("!"):
		x, err := p.unary()
		return notExpr{x}, err
	case p.accept("("):
		x, err := p.or()
		if err == nil && !p.accept(")") {
			err = p.errorf("expected \")\"")
		}
		return x, err
	}
	return p.call()
}

func (p *cparser) call() (constraint, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && isIdentByte(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		if p.pos == len(p.src) {
			return nil, p.errorf("expected Label(...) or LabelRegex(...), found the end")
		}
		return nil, p.errorf("expected Label(...) or LabelRegex(...), found %q", p.rest())
	}
	var args [2]string
	if !p.accept("(") {
		return nil, p.errorf("expected \"(\" after %s", name)
	}
	for i := range args {
		if i > 0 && !p.accept(",") {
			return nil, p.errorf("%s takes two arguments: a label key and a value", name)
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		args[i] = s
	}
	if !p.accept(")") {
		return nil, p.errorf("expected \")\" after the two arguments of %s", name)
	}
	switch strings.ToLower(name) {
	case "label":
		return labelExpr{key: args[0], value: args[1]}, nil
	case "labelregex", "labelregexp":
		re, err := regexp.Compile(args[1])
		if err != nil {
			return nil, fmt.Errorf("offset %d: %s: %w", start, name, err)
		}
		return labelExpr{key: args[0], re: re}, nil
	}
	p.pos = start
	return nil, p.errorf("unknown matcher %q: use Label or LabelRegex", name)
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// str reads a `raw` or "escaped" string.
func (p *cparser) str() (string, error) {
	p.skipSpace()
	if p.pos >= len(p.src) || (p.src[p.pos] != '`' && p.src[p.pos] != '"') {
		return "", p.errorf("expected a string in backticks or double quotes")
	}
	q := p.src[p.pos]
	for end := p.pos + 1; end < len(p.src); end++ {
		switch {
		case p.src[end] == '\\' && q == '"':
			end++
		case p.src[end] == q:
			lit := p.src[p.pos : end+1]
			s, err := strconv.Unquote(lit)
			if err != nil {
				return "", p.errorf("bad string %s", lit)
			}
			p.pos = end + 1
			return s, nil
		}
	}
	return "", p.errorf("unterminated string")
}
