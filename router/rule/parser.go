package rule

import (
	"fmt"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// maxDepth bounds parenthesis nesting. Rules come from container labels, which are untrusted
// input; the bound keeps a hostile rule from turning the recursive parser (and the recursive
// walks over the tree) into a stack-growth attack. Real rules nest two or three levels.
const maxDepth = 100

// parser is a recursive-descent parser with one token of lookahead. Every method leaves p.tok
// at the first token it did not consume.
type parser struct {
	src   string
	lex   lexer
	tok   token
	depth int
}

// arg is one matcher argument: its decoded value and the offset of its opening quote, so
// that a bad value (an invalid regexp, a host with a port) is reported where it starts.
type arg struct {
	val string
	pos int
}

func newParser(src string) *parser {
	return &parser{src: src, lex: lexer{src: src}}
}

// errorf builds an *Error at byte offset off; Rule is filled in by parseRule.
func errorf(off int, format string, a ...any) *Error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) advance() *Error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// parseRule parses the whole input. It returns error rather than *Error so that a nil
// result is a nil interface, not a typed nil.
func (p *parser) parseRule() (matcher, error) {
	m, err := p.parseAll()
	if err != nil {
		err.Rule = p.src
		return nil, err
	}
	return m, nil
}

func (p *parser) parseAll() (matcher, *Error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, errorf(0, "empty rule")
	}
	m, err := p.parseOr("")
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokEOF:
		return m, nil
	case tokRParen:
		return nil, errorf(p.tok.pos, `unexpected ")" without a matching "("`)
	}
	return nil, errorf(p.tok.pos, `expected "&&" or "||", got %s`, p.tok.describe(p.src))
}

// parseOr parses and-expressions separated by "||". after names what preceded the
// expression, for the "expected a matcher after ..." message.
func (p *parser) parseOr(after string) (matcher, *Error) {
	first, err := p.parseAnd(after)
	if err != nil || p.tok.kind != tokOr {
		return first, err
	}
	nodes := orNode{first}
	for p.tok.kind == tokOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		m, err := p.parseAnd(`"||"`)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, m)
	}
	return nodes, nil
}

// parseAnd parses unary expressions separated by "&&", which binds tighter than "||" as in
// Traefik and in Go.
func (p *parser) parseAnd(after string) (matcher, *Error) {
	first, err := p.parseUnary(after)
	if err != nil || p.tok.kind != tokAnd {
		return first, err
	}
	nodes := andNode{first}
	for p.tok.kind == tokAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		m, err := p.parseUnary(`"&&"`)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, m)
	}
	return nodes, nil
}

// parseUnary parses any number of "!" and their operand. The "!"s are counted rather than
// recursed into, and an even number cancels out, so "!!!!...x" can neither exhaust the stack
// nor build a deep tree.
func (p *parser) parseUnary(after string) (matcher, *Error) {
	nots := 0
	for p.tok.kind == tokNot {
		nots++
		after = `"!"`
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	m, err := p.parsePrimary(after)
	if err != nil {
		return nil, err
	}
	if nots%2 == 1 {
		m = notNode{m}
	}
	return m, nil
}

func (p *parser) parsePrimary(after string) (matcher, *Error) {
	switch p.tok.kind {
	case tokIdent:
		return p.parseMatcher()
	case tokLParen:
		return p.parseGroup()
	}
	msg := "expected a matcher"
	if after != "" {
		msg += " after " + after
	}
	if p.tok.kind != tokEOF {
		msg += ", got " + p.tok.describe(p.src)
	}
	return nil, errorf(p.tok.pos, "%s", msg)
}

// parseGroup parses "(" expr ")". An unclosed group is reported at its "(", which is where
// the user has to look, rather than at the end of the rule.
func (p *parser) parseGroup() (matcher, *Error) {
	open := p.tok.pos
	if p.depth++; p.depth > maxDepth {
		return nil, errorf(open, "parentheses nested too deeply (more than %d levels)", maxDepth)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	m, err := p.parseOr(`"("`)
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokRParen:
	case tokEOF:
		return nil, errorf(open, `unclosed "("`)
	default:
		return nil, errorf(p.tok.pos, `expected "&&", "||" or ")", got %s`, p.tok.describe(p.src))
	}
	p.depth--
	if err := p.advance(); err != nil {
		return nil, err
	}
	return m, nil
}

// parseMatcher parses name(args...) and compiles it. The matcher is built before the token
// after ")" is read, so errors come out in left-to-right order.
func (p *parser) parseMatcher() (matcher, *Error) {
	name := p.tok
	spec := lookupMatcher(name.val)
	if spec == nil {
		return nil, errorf(name.pos, "%s", unknownMatcherMsg(name.val))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, errorf(p.tok.pos, `expected "(" after %s, got %s`, name.val, p.tok.describe(p.src))
	}
	open := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	args, err := p.parseArgs(open)
	if err != nil {
		return nil, err
	}
	if msg := spec.checkArity(len(args)); msg != "" {
		return nil, errorf(name.pos, "%s", msg)
	}
	m, err := spec.build(args)
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil { // past ")"
		return nil, err
	}
	return m, nil
}

// parseArgs parses a comma-separated list of strings up to, not past, the closing ")".
func (p *parser) parseArgs(open int) ([]arg, *Error) {
	var args []arg
	if p.tok.kind == tokRParen {
		return nil, nil
	}
	for {
		switch p.tok.kind {
		case tokString:
		case tokEOF:
			return nil, errorf(open, `unclosed "("`)
		default:
			where := ""
			if len(args) > 0 {
				where = ` after ","`
			}
			return nil, errorf(p.tok.pos, "expected a string in backticks or double quotes%s, got %s",
				where, p.tok.describe(p.src))
		}
		args = append(args, arg{val: p.tok.val, pos: p.tok.pos})
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tokRParen:
			return args, nil
		case tokComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tokEOF:
			return nil, errorf(open, `unclosed "("`)
		default:
			return nil, errorf(p.tok.pos, `expected "," or ")", got %s`, p.tok.describe(p.src))
		}
	}
}

// unknownMatcherMsg names an unknown matcher and, when one is close, suggests it (the same
// suggestion every configuration error makes): typos and v2 names like Headers are the
// usual cause.
func unknownMatcherMsg(name string) string {
	names := make([]string, len(matcherSpecs))
	for i, s := range matcherSpecs {
		names[i] = s.name
	}
	return fmt.Sprintf("unknown matcher %q%s", name, dynamic.DidYouMean(name, names))
}
