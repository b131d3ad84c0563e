package middleware

import (
	"fmt"
	"strconv"
	"strings"
)

// The small expression language of circuitBreaker.expression and buffering.retryExpression,
// as in Traefik: calls of known functions with constant arguments, compared with numbers,
// combined with &&, || and !, grouped with parentheses:
//
//	NetworkErrorRatio() > 0.30 || ResponseCodeRatio(500, 600, 0, 600) > 0.25
//	IsNetworkError() && Attempts() < 2
//
// An expression is parsed once, when the table is compiled, into a tree of closures; each
// evaluation walks it without allocating. Errors give the byte offset.

// exprFunc is a function an expression may call. Exactly one of num and pred is set.
type exprFunc[T any] struct {
	name  string
	arity int
	num   func(env T, args []float64) float64
	pred  func(env T, args []float64) bool
}

type exprParser[T any] struct {
	src   string
	toks  []exprToken
	pos   int
	funcs []exprFunc[T]
}

type exprToken struct {
	kind string // "ident", "num", or the operator or punctuation itself; "" at the end
	text string
	off  int
}

// compileExpr parses src into a predicate over T.
func compileExpr[T any](src string, funcs []exprFunc[T]) (func(T) bool, error) {
	toks, err := lexExpr(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser[T]{src: src, toks: toks, funcs: funcs}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "" {
		return nil, p.errAt(t, "unexpected %q", t.text)
	}
	return e, nil
}

func lexExpr(src string) ([]exprToken, error) {
	var toks []exprToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(src) && (isIdentStart(src[j]) || (src[j] >= '0' && src[j] <= '9')) {
				j++
			}
			toks = append(toks, exprToken{"ident", src[i:j], i})
			i = j
		case (c >= '0' && c <= '9') || c == '.' || c == '-':
			j := i + 1
			for j < len(src) && ((src[j] >= '0' && src[j] <= '9') || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			toks = append(toks, exprToken{"num", src[i:j], i})
			i = j
		default:
			op := ""
			for _, o := range []string{"&&", "||", ">=", "<=", "==", "!=", ">", "<", "!", "(", ")", ","} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("offset %d: unexpected character %q", i, c)
			}
			toks = append(toks, exprToken{op, op, i})
			i += len(op)
		}
	}
	return toks, nil
}

func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }

func (p *exprParser[T]) peek() exprToken {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return exprToken{off: len(p.src)}
}

func (p *exprParser[T]) next() exprToken { t := p.peek(); p.pos++; return t }

func (p *exprParser[T]) errAt(t exprToken, format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", t.off, fmt.Sprintf(format, args...))
}

func (p *exprParser[T]) or() (func(T) bool, error) {
	l, err := p.and()
	for err == nil && p.peek().kind == "||" {
		p.next()
		var r func(T) bool
		if r, err = p.and(); err == nil {
			a, b := l, r
			l = func(v T) bool { return a(v) || b(v) }
		}
	}
	return l, err
}

func (p *exprParser[T]) and() (func(T) bool, error) {
	l, err := p.unary()
	for err == nil && p.peek().kind == "&&" {
		p.next()
		var r func(T) bool
		if r, err = p.unary(); err == nil {
			a, b := l, r
			l = func(v T) bool { return a(v) && b(v) }
		}
	}
	return l, err
}

func (p *exprParser[T]) unary() (func(T) bool, error) {
	switch p.peek().kind {
	case "!":
		p.next()
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(v T) bool { return !e(v) }, nil
	case "(":
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != ")" {
			return nil, p.errAt(t, "expected \")\"")
		}
		return e, nil
	}
	return p.comparison()
}

// comparison is a boolean call, or "operand op operand".
func (p *exprParser[T]) comparison() (func(T) bool, error) {
	start := p.peek()
	lnum, lpred, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.peek()
	switch op.kind {
	case ">", ">=", "<", "<=", "==", "!=":
	default:
		if lpred != nil {
			return lpred, nil
		}
		return nil, p.errAt(op, "expected a comparison (>, <, ==, ...) after %q", p.src[start.off:op.off])
	}
	p.next()
	rstart := p.peek()
	rnum, rpred, err := p.operand()
	if err != nil {
		return nil, err
	}
	if lpred != nil || rpred != nil {
		return nil, p.errAt(start, "only numbers can be compared; %s and %s", start.text, rstart.text)
	}
	return compare(op.kind, lnum, rnum), nil
}

func compare[T any](op string, l, r func(T) float64) func(T) bool {
	switch op {
	case ">":
		return func(v T) bool { return l(v) > r(v) }
	case ">=":
		return func(v T) bool { return l(v) >= r(v) }
	case "<":
		return func(v T) bool { return l(v) < r(v) }
	case "<=":
		return func(v T) bool { return l(v) <= r(v) }
	case "==":
		return func(v T) bool { return l(v) == r(v) }
	}
	return func(v T) bool { return l(v) != r(v) }
}

// operand is a number or a call; a call to a boolean function returns pred.
func (p *exprParser[T]) operand() (num func(T) float64, pred func(T) bool, err error) {
	t := p.next()
	switch t.kind {
	case "num":
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, nil, p.errAt(t, "%q is not a number", t.text)
		}
		return func(T) float64 { return f }, nil, nil
	case "ident":
		return p.call(t)
	case "":
		return nil, nil, p.errAt(t, "the expression ends too early")
	}
	return nil, nil, p.errAt(t, "unexpected %q", t.text)
}

func (p *exprParser[T]) call(name exprToken) (func(T) float64, func(T) bool, error) {
	var fn *exprFunc[T]
	names := make([]string, len(p.funcs))
	for i := range p.funcs {
		names[i] = p.funcs[i].name
		if strings.EqualFold(p.funcs[i].name, name.text) {
			fn = &p.funcs[i]
		}
	}
	if fn == nil {
		return nil, nil, p.errAt(name, "unknown function %q; known: %s", name.text, strings.Join(names, ", "))
	}
	if t := p.next(); t.kind != "(" {
		return nil, nil, p.errAt(t, "expected \"(\" after %s", fn.name)
	}
	var args []float64
	for p.peek().kind != ")" {
		if len(args) > 0 {
			if t := p.next(); t.kind != "," {
				return nil, nil, p.errAt(t, "expected \",\" or \")\"")
			}
		}
		t := p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if t.kind != "num" || err != nil {
			return nil, nil, p.errAt(t, "the arguments of %s must be numbers", fn.name)
		}
		args = append(args, f)
	}
	p.next()
	if len(args) != fn.arity {
		return nil, nil, p.errAt(name, "%s takes %d arguments, not %d", fn.name, fn.arity, len(args))
	}
	if fn.pred != nil {
		pred := fn.pred
		return nil, func(v T) bool { return pred(v, args) }, nil
	}
	num := fn.num
	return func(v T) float64 { return num(v, args) }, nil, nil
}
