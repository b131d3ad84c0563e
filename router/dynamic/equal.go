package dynamic

import (
	"reflect"
	"strings"
)

var entryType = reflect.TypeFor[Entry]()

// SameDefinition reports whether two definitions (routers, services, middlewares, ...) say
// the same thing: reflect.DeepEqual, except that Source fields are ignored (the same
// definition written by two containers or in two files differs only in where it was
// written), option keys compare case-insensitively (as they are read), and a nil slice or
// map equals an empty one (as it does to the decoder). Providers merge identical
// definitions and report the rest as conflicts.
func SameDefinition(a, b any) bool { return sameValue(reflect.ValueOf(a), reflect.ValueOf(b)) }

func sameValue(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case sourceType:
		return true
	case entryType:
		return strings.EqualFold(a.Field(0).String(), b.Field(0).String()) && sameValue(a.Field(1), b.Field(1))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			if bv := b.MapIndex(it.Key()); !bv.IsValid() || !sameValue(it.Value(), bv) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}
