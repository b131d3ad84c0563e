package dynamic

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// NodeUnmarshaler is implemented by types that decode themselves from a Node, such as
// Middleware, whose single key names its type.
type NodeUnmarshaler interface {
	UnmarshalNode(n *Node, path string) Errors
}

var (
	nodeUnmarshalerType = reflect.TypeFor[NodeUnmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	sourceType          = reflect.TypeFor[Source]()
	nodePtrType         = reflect.TypeFor[*Node]()
)

// Decode fills out (a pointer) from n, strictly: keys are matched case-insensitively against
// the struct's fields, unknown keys are errors with a suggestion, and scalars are converted
// to the field's type with an error naming the value when they do not fit. It does not stop
// at the first problem: every error is returned, and the fields that decoded are kept, so a
// caller can drop just the part that is wrong.
//
// Field names are the Go names with the first letter lowered, unless a `wharf:"name"` tag
// says otherwise; `wharf:"-"` hides a field. A field of type Source receives the source of
// the node its struct was decoded from; a field of type *Node receives the raw node.
//
// Conversions that make labels and environment variables usable: a scalar decodes into a
// slice by splitting on commas; "true" decodes into a pointer to a struct (an option enabled
// with its defaults); a duration is a Go duration ("1m30s") or a number of seconds.
func Decode(n *Node, out any) Errors { return DecodeAt(n, out, "") }

// DecodeAt is Decode for a subtree: path is the dotted key of n, so errors name the full key
// ("http.middlewares.strip.stripPrefix.prefixes").
func DecodeAt(n *Node, out any, path string) Errors {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic("dynamic.Decode: out must be a non-nil pointer")
	}
	d := decoder{}
	d.value(n, v.Elem(), path)
	return d.errs
}

type decoder struct{ errs Errors }

func (d *decoder) fail(n *Node, path string, withValue bool, format string, args ...any) {
	e := &Error{Source: n.Src, Path: path, Msg: fmt.Sprintf(format, args...)}
	if withValue && n.Kind == Scalar {
		e.Value, e.HasVal = n.Value, true
	}
	d.errs = append(d.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) value(n *Node, v reflect.Value, path string) {
	if v.Type() == nodePtrType {
		v.Set(reflect.ValueOf(n))
		return
	}
	info := fieldsOf(v.Type())
	if v.CanAddr() && info.nodeUnmarshaler {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.errs = append(d.errs, v.Addr().Interface().(NodeUnmarshaler).UnmarshalNode(n, path)...)
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.Type().Elem().Kind() == reflect.Struct && n.Kind == Scalar {
			d.enableStruct(n, v, path)
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	if v.CanAddr() && info.textUnmarshaler && v.Kind() != reflect.Struct {
		if d.expect(n, Scalar, path) {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n, path, true, "%v", err)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, path)
	case reflect.Map:
		d.mapValue(n, v, path)
	case reflect.Slice:
		d.sliceValue(n, v, path)
	case reflect.Interface:
		if v.NumMethod() == 0 {
			v.Set(reflect.ValueOf(plain(n)))
			return
		}
		d.fail(n, path, false, "cannot decode into %s", v.Type())
	default:
		if d.expect(n, Scalar, path) {
			d.scalar(n, v, path)
		}
	}
}

// enableStruct handles `tls=true` and `compress=true`: a pointer to a struct set by a
// boolean scalar means "on, with defaults" (true) or "off" (false).
func (d *decoder) enableStruct(n *Node, v reflect.Value, path string) {
	if strings.TrimSpace(n.Value) == "" {
		v.Set(reflect.New(v.Type().Elem()))
		d.setSource(v.Elem(), n)
		return
	}
	on, err := strconv.ParseBool(strings.TrimSpace(n.Value))
	if err != nil {
		d.fail(n, path, true, "expected options or true/false")
		return
	}
	if on {
		v.Set(reflect.New(v.Type().Elem()))
		d.setSource(v.Elem(), n)
	} else {
		v.Set(reflect.Zero(v.Type()))
	}
}

func (d *decoder) expect(n *Node, k Kind, path string) bool {
	if n.Kind == k {
		return true
	}
	if n.Kind == Map && k == Scalar && len(n.Entries) == 0 {
		// `key:` with nothing after it in YAML, or an empty TOML table: treat as empty.
		return true
	}
	d.fail(n, path, false, "expected %s, found %s", k, n.Kind)
	return false
}

func (d *decoder) setSource(v reflect.Value, n *Node) {
	for _, i := range fieldsOf(v.Type()).sources {
		v.Field(i).Set(reflect.ValueOf(n.Src))
	}
}

func (d *decoder) structValue(n *Node, v reflect.Value, path string) {
	d.setSource(v, n)
	if n.Kind == Scalar && strings.TrimSpace(n.Value) == "" {
		return // an empty YAML key: all defaults
	}
	if !d.expect(n, Map, path) {
		return
	}
	fields := fieldsOf(v.Type())
	seen := make([]string, v.NumField()) // the key that set each field
	for _, e := range n.Entries {
		key := join(path, e.Key)
		idx, ok := fields.byLower[strings.ToLower(e.Key)]
		if !ok {
			d.fail(e.Value, key, false, "unknown key %q%s", e.Key, DidYouMean(e.Key, fields.names))
			continue
		}
		if prev := seen[idx]; prev != "" {
			d.fail(e.Value, key, false, "key %q is given twice (also as %q)", e.Key, prev)
			continue
		}
		seen[idx] = e.Key
		d.value(e.Value, v.Field(idx), key)
	}
}

func (d *decoder) mapValue(n *Node, v reflect.Value, path string) {
	if n.Kind == Scalar && strings.TrimSpace(n.Value) == "" {
		return
	}
	if !d.expect(n, Map, path) {
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("dynamic.Decode: map keys must be strings")
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(n.Entries)))
	}
	seen := make(map[string]string, len(n.Entries))
	for _, e := range n.Entries {
		key := join(path, e.Key)
		lower := strings.ToLower(e.Key)
		if prev, dup := seen[lower]; dup {
			d.fail(e.Value, key, false, "%q is given twice (also as %q); names are case-insensitive", e.Key, prev)
			continue
		}
		seen[lower] = e.Key
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(e.Value, elem, key)
		v.SetMapIndex(reflect.ValueOf(e.Key).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) sliceValue(n *Node, v reflect.Value, path string) {
	switch n.Kind {
	case List:
		out := reflect.MakeSlice(v.Type(), len(n.Items), len(n.Items))
		for i, item := range n.Items {
			d.value(item, out.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(out)
	case Scalar:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(n.Value))
			return
		}
		// Labels and environment variables write lists as "a,b,c".
		var parts []string
		for _, p := range strings.Split(n.Value, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		out := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			item := &Node{Kind: Scalar, Value: p, Src: n.Src}
			d.value(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(out)
	default:
		if len(n.Entries) == 0 {
			return
		}
		d.fail(n, path, false, "expected a list, found a map")
	}
}

func (d *decoder) scalar(n *Node, v reflect.Value, path string) {
	s := strings.TrimSpace(n.Value)
	if v.Type() == durationType {
		dur, err := ParseDuration(s)
		if err != nil {
			d.fail(n, path, true, "not a duration (write it like 10s, 1m30s, or a number of seconds)")
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			d.fail(n, path, true, "not a boolean (write true or false)")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			d.fail(n, path, true, "not an integer")
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			d.fail(n, path, true, "not a non-negative integer")
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			d.fail(n, path, true, "not a number")
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("dynamic.Decode: unsupported type %s", v.Type()))
	}
}

// ParseDuration accepts Go durations ("90s", "1m30s") and bare numbers of seconds ("90"),
// which is how Traefik reads them.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// plain converts a node into plain Go values (map[string]any, []any, string).
func plain(n *Node) any {
	switch n.Kind {
	case Map:
		m := make(map[string]any, len(n.Entries))
		for _, e := range n.Entries {
			m[e.Key] = plain(e.Value)
		}
		return m
	case List:
		l := make([]any, len(n.Items))
		for i, it := range n.Items {
			l[i] = plain(it)
		}
		return l
	}
	return n.Value
}

type structFields struct {
	byLower map[string]int
	names   []string // display names, for suggestions
	sources []int    // the fields of type Source
	// Whether a pointer to the type implements NodeUnmarshaler or encoding.TextUnmarshaler
	// (asked of every value decoded; the answer is the type's, and reflect is slow to give it).
	nodeUnmarshaler, textUnmarshaler bool
}

// fieldCache memoizes fieldsOf per type, as encoding/json does: the answer depends only on
// the type, and recomputing it was a third of the time of converting 1,000 containers'
// labels. It is the package's only shared state and holds nothing but derived type facts.
var fieldCache sync.Map // reflect.Type -> structFields

// fieldsOf lists the decodable fields of t, and what the decoder needs to know of any type.
func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := computeFields(t)
	fieldCache.Store(t, f)
	return f
}

func computeFields(t reflect.Type) structFields {
	pt := reflect.PointerTo(t)
	f := structFields{nodeUnmarshaler: pt.Implements(nodeUnmarshalerType), textUnmarshaler: pt.Implements(textUnmarshalerType)}
	if t.Kind() != reflect.Struct {
		return f
	}
	f.byLower = make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type == sourceType {
			f.sources = append(f.sources, i)
		}
		if !sf.IsExported() || sf.Type == sourceType {
			continue
		}
		name := sf.Tag.Get("wharf")
		if name == "-" {
			continue
		}
		if name == "" {
			name = lowerFirst(sf.Name)
		}
		f.byLower[strings.ToLower(name)] = i
		f.names = append(f.names, name)
	}
	return f
}

// FieldNames lists the keys a struct type accepts, for documentation and suggestions.
func FieldNames(t reflect.Type) []string { return fieldsOf(t).names }

func lowerFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}
