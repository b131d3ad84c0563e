// Package dynamic is the model every provider produces and the router compiles: routers,
// services, middlewares and TLS material, plus the strict decoder that turns a tree of keys
// (a YAML or TOML file, a set of container labels, environment variables) into that model.
//
// It is a leaf: it imports only the standard library, so every other package can depend on
// it without dragging in an SDK.
package dynamic

import (
	"fmt"
	"strconv"
	"strings"
)

// Source says where a piece of configuration was written, so that every error can name it:
// a file with line and column, or a container and one of its labels.
// The zero Source means "unknown" and prints as "".
type Source struct {
	Provider    string // "file", "docker", ... (empty for static configuration)
	File        string // path of the file, when it came from one
	Line, Col   int    // 1-based; zero when unknown
	Container   string // container name, when it came from a container
	ContainerID string // full id; printed shortened
	Label       string // the label key (or environment variable, or flag) that set the value
}

// String renders the source the way users read it:
//
//	dynamic.yml:14:7
//	container "blog-web-1" (3f2a1b9c0d1e): label "wharf.http.routers.blog.rule"
func (s Source) String() string {
	var b strings.Builder
	switch {
	case s.File != "":
		b.WriteString(s.File)
		if s.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(s.Line))
			if s.Col > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(s.Col))
			}
		}
	case s.Container != "":
		fmt.Fprintf(&b, "container %q", s.Container)
		if id := ShortID(s.ContainerID); id != "" {
			fmt.Fprintf(&b, " (%s)", id)
		}
	}
	if s.Label != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		if s.File == "" && s.Container == "" && (strings.HasPrefix(s.Label, "--") || strings.ToUpper(s.Label) == s.Label) {
			// A flag or an environment variable: say so without calling it a label.
			b.WriteString(s.Label)
		} else {
			fmt.Fprintf(&b, "label %q", s.Label)
		}
	}
	if b.Len() == 0 && s.Provider != "" {
		fmt.Fprintf(&b, "provider %q", s.Provider)
	}
	return b.String()
}

// IsZero reports whether nothing is known about where the value came from.
func (s Source) IsZero() bool { return s == Source{} }

// ShortID shortens a container id to the 12 characters docker ps shows.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Error is one configuration problem with the place it was written. Providers and the
// compiler report these; the API, the log and `wharf check` print them.
type Error struct {
	Source  Source
	Path    string // dotted key path of the value, as written ("http.routers.blog.priority")
	Value   string // the offending scalar, when there is one
	HasVal  bool   // Value is meaningful (it may legitimately be empty)
	Msg     string // what is wrong, and where possible what to do
	Warning bool   // reported, but nothing was dropped because of it
}

func (e *Error) Error() string {
	var b strings.Builder
	src := e.Source.String()
	b.WriteString(src)
	if e.Source.Label == "" && e.Path != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Path)
	}
	if e.HasVal {
		fmt.Fprintf(&b, " = %q", e.Value)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errorf makes an Error at a source.
func Errorf(src Source, format string, args ...any) *Error {
	return &Error{Source: src, Msg: fmt.Sprintf(format, args...)}
}

// Errors is a list of problems. It is returned as a concrete type, not as error, so a nil
// list is never mistaken for a failure.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Suggest returns the candidate closest to name (case-insensitively) when it is close enough
// to be a likely typo, or "" when none is.
func Suggest(name string, candidates []string) string {
	best, bestD := "", 3
	ln := strings.ToLower(name)
	for _, c := range candidates {
		d := levenshtein(ln, strings.ToLower(c))
		limit := 2
		if len(name) <= 4 {
			limit = 1
		}
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean formats Suggest's answer as a sentence suffix: ` (did you mean "x"?)`.
func DidYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// levenshtein is the edit distance between a and b where swapping two neighbours counts as
// one edit (optimal string alignment), since "Hots" for "Host" is the commonest typo.
func levenshtein(a, b string) int {
	pp := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(b)]
}
