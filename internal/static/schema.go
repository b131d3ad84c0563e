package static

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// The schema is the Config type itself: environment variables and flags are resolved by
// walking it, Keys and Defaults are derived from it, and dynamic.Decode fills it. One
// description of the options, so none of them can be documented but not read, or the
// reverse.

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
	nodePtrType  = reflect.TypeFor[*dynamic.Node]()
	sourceType   = reflect.TypeFor[dynamic.Source]()
)

type schemaField struct {
	name  string // as documented: "entryPoints"
	index int
}

// schemaFields lists the options of a struct type with the names dynamic.Decode gives them:
// the `wharf` tag, else the Go name with its first letter lowered. (A test checks this agrees
// with dynamic.FieldNames.)
func schemaFields(t reflect.Type) []schemaField {
	var out []schemaField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Type == sourceType {
			continue
		}
		name := sf.Tag.Get("wharf")
		if name == "-" {
			continue
		}
		if name == "" {
			r := []rune(sf.Name)
			r[0] = unicode.ToLower(r[0])
			name = string(r)
		}
		out = append(out, schemaField{name: name, index: i})
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	fs := schemaFields(t)
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

// deref removes pointers, except from *dynamic.Node, which is an opaque value.
func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer && t != nodePtrType {
		t = t.Elem()
	}
	return t
}

// isSection reports whether t holds options of its own (a struct), as opposed to a value.
func isSection(t reflect.Type) bool {
	t = deref(t)
	return t.Kind() == reflect.Struct && t.NumField() > 0 && t != durationType
}

// isSwitch reports whether t is an optional section that a bare boolean turns on or off
// (`--providers.docker`, `api: false`, `tlsChallenge: {}`).
func isSwitch(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer && t != nodePtrType && t.Elem().Kind() == reflect.Struct
}

// isBoolish reports whether a flag for t may be given without a value, meaning true.
func isBoolish(t reflect.Type) bool {
	return isSwitch(t) || t == nodePtrType || deref(t).Kind() == reflect.Bool
}

// Keys lists every static option as a dotted path in declaration order, with "<name>" for
// a map key and "[n]" for a list index: "entryPoints.<name>.address". Docs and tests use it
// to check that every option is documented.
func Keys() []string {
	var out []string
	walkTypes(configType, "", func(path string) { out = append(out, path) })
	return out
}

func walkTypes(t reflect.Type, path string, leaf func(string)) {
	t = deref(t)
	switch {
	case t == nodePtrType || t == durationType:
		leaf(path)
	case t.Kind() == reflect.Struct:
		fs := schemaFields(t)
		if len(fs) == 0 {
			leaf(path) // an option without options: tlsChallenge
		}
		for _, f := range fs {
			walkTypes(t.Field(f.index).Type, join(path, f.name), leaf)
		}
	case t.Kind() == reflect.Map:
		walkTypes(t.Elem(), join(path, "<name>"), leaf)
	case t.Kind() == reflect.Slice && isSection(t.Elem()):
		walkTypes(t.Elem(), path+"[n]", leaf)
	default:
		leaf(path)
	}
}

// walkValues calls leaf for every value below v (a struct), with its dotted path. Nil
// sections are skipped; a nil *bool is reported (as a leaf) so callers can tell.
func walkValues(v reflect.Value, path string, leaf func(string, reflect.Value)) {
	switch {
	case v.Type() == nodePtrType || v.Type() == durationType:
		leaf(path, v)
	case v.Kind() == reflect.Pointer && isSwitch(v.Type()):
		if !v.IsNil() {
			walkValues(v.Elem(), path, leaf)
		}
	case v.Kind() == reflect.Struct:
		for _, f := range schemaFields(v.Type()) {
			walkValues(v.Field(f.index), join(path, f.name), leaf)
		}
	case v.Kind() == reflect.Map:
		for _, k := range sortedKeys(v) {
			walkValues(v.MapIndex(k), join(path, k.String()), leaf)
		}
	case v.Kind() == reflect.Slice && isSection(v.Type().Elem()):
		for i := 0; i < v.Len(); i++ {
			walkValues(v.Index(i), fmt.Sprintf("%s[%d]", path, i), leaf)
		}
	default:
		leaf(path, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// segment is one step of a resolved option path.
type segment struct {
	key   string // lowercase, as merged: "domains[0]"
	spell string // as shown to users: "domains[0]"
}

// resolved is an environment variable or a flag matched against the schema.
type resolved struct {
	segs []segment
	leaf reflect.Type // the type the value decodes into
}

func (r resolved) key() string {
	parts := make([]string, len(r.segs))
	for i, s := range r.segs {
		parts[i] = s.key
	}
	return strings.Join(parts, ".")
}

func (r resolved) spelled() string {
	parts := make([]string, len(r.segs))
	for i, s := range r.segs {
		parts[i] = s.spell
	}
	return strings.Join(parts, ".")
}

// resolveError says which token did not fit and, when one is close, what it should be.
type resolveError struct {
	at      int    // index of the token that did not fit
	msg     string // what is wrong
	suggest string // replacement for tokens[at], or ""
}

// resolve matches tokens (the parts of WHARF_ENTRYPOINTS_WEB_ADDRESS or of
// --entrypoints.web.address) against the schema, case-insensitively. A struct option names
// one token (option names contain no underscore), a map key takes exactly one token, and a
// list of sections takes a numeric index. That makes splitting an environment variable on
// "_" unambiguous. mapKey says how a map key is spelled (environment variables are upper
// case by convention, so they are lowered).
func resolve(tokens []string, mapKey func(string) string) (resolved, *resolveError) {
	var r resolved
	t := configType
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if tok == "" {
			return r, &resolveError{at: i, msg: "empty name part"}
		}
		d := deref(t)
		switch {
		case t == nodePtrType:
			// An opaque value (http3): whatever is below is reported when it is decoded.
			r.segs = append(r.segs, segment{key: strings.ToLower(tok), spell: tok})
			continue
		case d.Kind() == reflect.Struct && d != durationType:
			f, ok := findField(d, tok)
			if !ok {
				return r, &resolveError{at: i, msg: fmt.Sprintf("%s has no option %q", where(r), tok), suggest: dynamic.Suggest(tok, fieldNames(d))}
			}
			r.segs = append(r.segs, segment{key: strings.ToLower(f.name), spell: f.name})
			t = d.Field(f.index).Type
		case d.Kind() == reflect.Map:
			k := mapKey(tok)
			r.segs = append(r.segs, segment{key: strings.ToLower(k), spell: k})
			t = d.Elem()
		case d.Kind() == reflect.Slice && isSection(d.Elem()):
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n > 1000 || len(r.segs) == 0 {
				return r, &resolveError{at: i, msg: fmt.Sprintf("%s is a list: the next part must be an index (0, 1, ...), not %q", where(r), tok)}
			}
			last := &r.segs[len(r.segs)-1]
			last.key += "[" + tok + "]"
			last.spell += "[" + tok + "]"
			t = d.Elem()
		default:
			return r, &resolveError{at: i, msg: fmt.Sprintf("%s is a value and has no option %q", where(r), tok)}
		}
	}
	r.leaf = t
	return r, checkLeaf(r, t)
}

// checkLeaf refuses a path that stops at a section or a map, which no single value can set.
func checkLeaf(r resolved, t reflect.Type) *resolveError {
	d := deref(t)
	switch {
	case t == nodePtrType || isSwitch(t) || d == durationType:
		return nil
	case d.Kind() == reflect.Struct:
		return &resolveError{at: -1, msg: fmt.Sprintf("%s is a section: set one of its options (%s)", where(r), strings.Join(fieldNames(d), ", "))}
	case d.Kind() == reflect.Map:
		return &resolveError{at: -1, msg: fmt.Sprintf("%s needs a name after it", where(r))}
	case d.Kind() == reflect.Slice && isSection(d.Elem()):
		return &resolveError{at: -1, msg: fmt.Sprintf("%s is a list: give an index after it", where(r))}
	}
	return nil
}

func findField(t reflect.Type, tok string) (schemaField, bool) {
	for _, f := range schemaFields(t) {
		if strings.EqualFold(f.name, tok) {
			return f, true
		}
	}
	return schemaField{}, false
}

// where names the part of the configuration resolved so far.
func where(r resolved) string {
	if len(r.segs) == 0 {
		return "the configuration"
	}
	return r.spelled()
}
