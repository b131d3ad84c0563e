package confnode

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// TOML parses one TOML document into a tree that keeps the line and column of every key.
// It uses go-toml's low-level parser because the high-level decoder forgets positions.
//
// Tables and arrays of tables build nested maps and lists of maps; dotted keys
// (`a.b.c = 1`) build nested maps; inline tables are maps. Values become scalars in the
// text form Go prints them in: strings unquoted, integers in decimal (0x1F becomes "31"),
// floats as plain decimals, booleans as true/false, offset date-times in RFC 3339 and local
// dates and times in their ISO 8601 form.
//
// The parser checks syntax only, so the rules TOML adds on top are checked here: a key or a
// table is defined once, inline tables and arrays are closed, a table defined by dotted
// keys is not reopened by a header. Breaking one is a syntax error, like in any other TOML
// reader: the file as a whole is invalid. Errors are *dynamic.Error with file:line:col.
func TOML(data []byte, file string) (*dynamic.Node, error) {
	if err := checkSize(len(data), file); err != nil {
		return nil, err
	}
	// Node ranges and error highlights are located by slice capacity; clip it so that the
	// arithmetic sees exactly the document.
	data = data[:len(data):len(data)]
	b := &tomlBuilder{
		file:        file,
		loc:         newLocator(data),
		root:        emptyMap(file),
		closed:      map[*dynamic.Node]bool{},
		explicit:    map[*dynamic.Node]bool{},
		dotted:      map[*dynamic.Node]bool{},
		arrayTables: map[*dynamic.Node]bool{},
		index:       map[*dynamic.Node]map[string]*dynamic.Node{},
	}
	b.cur = b.root
	var p unstable.Parser
	p.Reset(data)
	for {
		ok, err := nextExpression(&p)
		if err != nil {
			return nil, b.parseError(err)
		}
		if !ok {
			return b.root, nil
		}
		if err := b.expression(p.Expression()); err != nil {
			return nil, err
		}
	}
}

// nextExpression advances the parser, turning a parser panic into an error: a config file
// must never take the process down.
func nextExpression(p *unstable.Parser) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("parser failed: %v", r)
		}
	}()
	if p.NextExpression() {
		return true, nil
	}
	return false, p.Error()
}

type tomlBuilder struct {
	file     string
	loc      *locator
	root     *dynamic.Node
	cur      *dynamic.Node // the table that key/value lines go into
	curDepth int           // how deep cur is below the root

	closed      map[*dynamic.Node]bool // inline tables and array values: complete as written
	explicit    map[*dynamic.Node]bool // tables defined by a [header]
	dotted      map[*dynamic.Node]bool // tables defined by dotted keys
	arrayTables map[*dynamic.Node]bool // lists made by [[header]]
	index       map[*dynamic.Node]map[string]*dynamic.Node
}

// keyPart is one segment of a (possibly dotted) key, with where it was written.
type keyPart struct {
	name string
	src  dynamic.Source
}

func (b *tomlBuilder) src(r unstable.Range) dynamic.Source {
	line, col := b.loc.pos(int(r.Offset))
	return dynamic.Source{File: b.file, Line: line, Col: col}
}

func (b *tomlBuilder) fail(src dynamic.Source, format string, args ...any) error {
	return &dynamic.Error{Source: src, Msg: fmt.Sprintf(format, args...)}
}

func (b *tomlBuilder) parseError(err error) error {
	var perr *unstable.ParserError
	if !errors.As(err, &perr) {
		return b.fail(dynamic.Source{File: b.file}, "invalid TOML: %v", err)
	}
	// The highlight is a sub-slice of the document: its capacity tells where it starts.
	off := len(b.loc.data) - cap(perr.Highlight)
	off = max(0, min(off, len(b.loc.data)))
	line, col := b.loc.pos(off)
	return b.fail(dynamic.Source{File: b.file, Line: line, Col: col}, "invalid TOML: %s", perr.Message)
}

func (b *tomlBuilder) expression(e *unstable.Node) error {
	switch e.Kind {
	case unstable.KeyValue:
		return b.keyValue(b.cur, b.curDepth, e)
	case unstable.Table:
		return b.table(e)
	case unstable.ArrayTable:
		return b.arrayTable(e)
	}
	return nil // comments
}

func (b *tomlBuilder) key(it unstable.Iterator) []keyPart {
	var parts []keyPart
	for it.Next() {
		k := it.Node()
		parts = append(parts, keyPart{name: string(k.Data), src: b.src(k.Raw)})
	}
	return parts
}

func joinKey(parts []keyPart) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	return strings.Join(names, ".")
}

// find returns the entry of t named exactly name: TOML keys are case-sensitive (the decoder
// later reports keys that differ only in case). It is indexed: a table with a hundred
// thousand keys must not cost a hundred thousand comparisons per key.
func (b *tomlBuilder) find(t *dynamic.Node, name string) *dynamic.Node {
	return b.index[t][name]
}

func (b *tomlBuilder) add(t *dynamic.Node, k keyPart, v *dynamic.Node) {
	t.Entries = append(t.Entries, dynamic.Entry{Key: k.name, Value: v})
	if b.index[t] == nil {
		b.index[t] = map[string]*dynamic.Node{}
	}
	b.index[t][k.name] = v
}

func (b *tomlBuilder) checkDepth(depth int, src dynamic.Source) error {
	if depth > maxDepth {
		return b.fail(src, "nested more than %d levels deep", maxDepth)
	}
	return nil
}

// keyValue adds `a.b.c = value` to table t, which is depth levels below the root.
func (b *tomlBuilder) keyValue(t *dynamic.Node, depth int, e *unstable.Node) error {
	parts := b.key(e.Key())
	last := parts[len(parts)-1]
	if err := b.checkDepth(depth+len(parts), last.src); err != nil {
		return err
	}
	for _, k := range parts[:len(parts)-1] {
		child := b.find(t, k.name)
		switch {
		case child == nil:
			child = &dynamic.Node{Kind: dynamic.Map, Src: k.src}
			b.dotted[child] = true
			b.add(t, k, child)
		case child.Kind != dynamic.Map:
			return b.fail(k.src, "key %q is already defined as a value at line %d", k.name, child.Src.Line)
		case b.closed[child]:
			return b.fail(k.src, "cannot add keys to %q: it is an inline table, complete as written at line %d", k.name, child.Src.Line)
		}
		t = child
	}
	if prev := b.find(t, last.name); prev != nil {
		return b.fail(last.src, "key %q is defined twice (first at line %d)", last.name, prev.Src.Line)
	}
	val, err := b.value(e.Value(), last.src, depth+len(parts))
	if err != nil {
		return err
	}
	b.add(t, last, val)
	return nil
}

// value converts a value; src is where it is reported (its key, or itself in an array).
func (b *tomlBuilder) value(v *unstable.Node, src dynamic.Source, depth int) (*dynamic.Node, error) {
	if err := b.checkDepth(depth, src); err != nil {
		return nil, err
	}
	switch v.Kind {
	case unstable.Array:
		n := &dynamic.Node{Kind: dynamic.List, Src: src}
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			itemSrc := src
			if c.Raw.Length > 0 { // arrays carry no range of their own
				itemSrc = b.src(c.Raw)
			}
			item, err := b.value(c, itemSrc, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, item)
		}
		b.closed[n] = true
		return n, nil
	case unstable.InlineTable:
		n := &dynamic.Node{Kind: dynamic.Map, Src: src}
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				if err := b.keyValue(n, depth, c); err != nil {
					return nil, err
				}
			}
		}
		b.closed[n] = true
		return n, nil
	}
	text, err := tomlScalar(v)
	if err != nil {
		return nil, b.fail(b.src(v.Raw), "invalid TOML: %v", err)
	}
	return &dynamic.Node{Kind: dynamic.Scalar, Value: text, Src: src}, nil
}

// descendHeader walks the key of a [table] or [[array]] header from the root, creating the
// tables it implies; through an array of tables it goes into the last element, as TOML says.
func (b *tomlBuilder) descendHeader(parts []keyPart) (*dynamic.Node, error) {
	t := b.root
	for _, k := range parts {
		child := b.find(t, k.name)
		switch {
		case child == nil:
			child = &dynamic.Node{Kind: dynamic.Map, Src: k.src}
			b.add(t, k, child)
		case b.closed[child]:
			return nil, b.fail(k.src, "cannot extend %q: it is complete as written at line %d", k.name, child.Src.Line)
		case child.Kind == dynamic.List && b.arrayTables[child]:
			child = child.Items[len(child.Items)-1]
		case child.Kind != dynamic.Map:
			return nil, b.fail(k.src, "key %q is already defined as a value at line %d", k.name, child.Src.Line)
		}
		t = child
	}
	return t, nil
}

// table handles `[a.b]`: later key/values go into that table.
func (b *tomlBuilder) table(e *unstable.Node) error {
	parts := b.key(e.Key())
	last := parts[len(parts)-1]
	if err := b.checkDepth(len(parts), last.src); err != nil {
		return err
	}
	t, err := b.descendHeader(parts[:len(parts)-1])
	if err != nil {
		return err
	}
	child := b.find(t, last.name)
	switch {
	case child == nil:
		child = &dynamic.Node{Kind: dynamic.Map, Src: last.src}
		b.add(t, last, child)
	case child.Kind != dynamic.Map || b.explicit[child] || b.dotted[child] || b.closed[child]:
		return b.fail(last.src, "table [%s] is defined twice (first at line %d)", joinKey(parts), child.Src.Line)
	default:
		// Created implicitly by a deeper header ([a.b.c] before [a.b]): this is where it is
		// defined, so errors about it should point here.
		child.Src = last.src
	}
	b.explicit[child] = true
	b.cur, b.curDepth = child, len(parts)
	return nil
}

// arrayTable handles `[[a.b]]`: a new map appended to the list a.b.
func (b *tomlBuilder) arrayTable(e *unstable.Node) error {
	parts := b.key(e.Key())
	last := parts[len(parts)-1]
	if err := b.checkDepth(len(parts)+1, last.src); err != nil {
		return err
	}
	t, err := b.descendHeader(parts[:len(parts)-1])
	if err != nil {
		return err
	}
	list := b.find(t, last.name)
	switch {
	case list == nil:
		list = &dynamic.Node{Kind: dynamic.List, Src: last.src}
		b.arrayTables[list] = true
		b.add(t, last, list)
	case !b.arrayTables[list]:
		return b.fail(last.src, "[[%s]] names a key already defined at line %d that is not an array of tables", joinKey(parts), list.Src.Line)
	}
	item := &dynamic.Node{Kind: dynamic.Map, Src: last.src}
	list.Items = append(list.Items, item)
	b.explicit[item] = true
	b.cur, b.curDepth = item, len(parts)+1
	return nil
}

// tomlScalar returns a scalar's text as Go prints the value. It also validates what the
// parser leaves to its caller: integer range and date contents.
func tomlScalar(v *unstable.Node) (string, error) {
	s := string(v.Data)
	switch v.Kind {
	case unstable.String, unstable.Bool:
		return s, nil
	case unstable.Integer:
		return tomlInteger(s)
	case unstable.Float:
		return tomlFloat(s)
	case unstable.DateTime, unstable.LocalDateTime, unstable.LocalDate, unstable.LocalTime:
		return tomlDateTime(v.Kind, s)
	}
	return "", fmt.Errorf("unsupported value %q", s)
}

func tomlInteger(s string) (string, error) {
	digits := strings.TrimLeft(s, "+-")
	var i int64
	var err error
	if len(digits) > 1 && digits[0] == '0' {
		// 0x, 0o, 0b: Go's base-0 syntax is TOML's (underscores included).
		i, err = strconv.ParseInt(s, 0, 64)
	} else {
		// Decimal: strip underscores and parse in base 10, never as octal.
		i, err = strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	}
	if err != nil {
		return "", fmt.Errorf("integer %s does not fit in 64 bits", s)
	}
	return strconv.FormatInt(i, 10), nil
}

func tomlFloat(s string) (string, error) {
	clean := strings.ReplaceAll(s, "_", "")
	if strings.HasSuffix(clean, "nan") {
		return "NaN", nil // TOML allows a sign on nan; Go does not
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		return "", fmt.Errorf("float %s is out of range", s)
	}
	// Plain decimals ("1000000", not "1e+06") so that a whole float still reads as an
	// integer or a number of seconds; exponents only for magnitudes nobody writes out.
	format := byte('f')
	if math.Abs(f) >= 1e21 {
		format = 'g'
	}
	return strconv.FormatFloat(f, format, -1, 64), nil
}

// dateLayouts are tried in order for each kind; TOML 1.1 allows leaving out the seconds.
var dateLayouts = map[unstable.Kind]struct {
	in  []string
	out string
}{
	unstable.DateTime:      {[]string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"}, time.RFC3339Nano},
	unstable.LocalDateTime: {[]string{"2006-01-02T15:04:05", "2006-01-02T15:04"}, "2006-01-02T15:04:05.999999999"},
	unstable.LocalDate:     {[]string{"2006-01-02"}, "2006-01-02"},
	unstable.LocalTime:     {[]string{"15:04:05", "15:04"}, "15:04:05.999999999"},
}

func tomlDateTime(kind unstable.Kind, s string) (string, error) {
	norm := strings.ToUpper(s) // t and z are allowed in lower case
	if len(norm) > 10 && norm[10] == ' ' {
		norm = norm[:10] + "T" + norm[11:]
	}
	l := dateLayouts[kind]
	for _, layout := range l.in {
		if t, err := time.Parse(layout, norm); err == nil {
			return t.Format(l.out), nil
		}
	}
	return "", fmt.Errorf("%q is not a valid date or time", s)
}

// locator turns byte offsets into 1-based line and column (in characters, as YAML counts
// them). Lookups come mostly in document order, so the column count resumes from the last
// lookup on the same line; a document with one very long line is not scanned quadratically.
type locator struct {
	data  []byte
	lines []int // offset where each line starts

	lastOff, lastLine, lastCol int
}

func newLocator(data []byte) *locator {
	l := &locator{data: data, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	return l
}

func (l *locator) pos(off int) (line, col int) {
	off = max(0, min(off, len(l.data)))
	i := sort.SearchInts(l.lines, off+1) - 1
	from, col := l.lines[i], 1
	if l.lastLine == i+1 && l.lastOff <= off {
		from, col = l.lastOff, l.lastCol
	}
	col += utf8.RuneCount(l.data[from:off])
	l.lastOff, l.lastLine, l.lastCol = off, i+1, col
	return i + 1, col
}
