package static

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

const (
	envPrefix = "WHARF_"
	envConfig = "WHARF_CONFIG" // names the configuration file; not an option
)

// envLayer reads the WHARF_* variables of env (os.Environ form). The prefix is matched
// case-sensitively, as shells do; the rest of the name is matched against the schema
// case-insensitively. A WHARF_* variable that names no option is an error: a typo in a
// deployment file should not silently leave the default in place.
func envLayer(env []string) (*layer, configChoice, dynamic.Errors) {
	l := newLayer()
	var cfg configChoice
	var errs dynamic.Errors
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		src := dynamic.Source{Label: name}
		if name == envConfig {
			cfg = configChoice{path: value, src: src}
			continue
		}
		tokens := strings.Split(name[len(envPrefix):], "_")
		r, rerr := resolve(tokens, strings.ToLower)
		if rerr != nil {
			errs = append(errs, &dynamic.Error{Source: src, Msg: "unknown variable: " + rerr.msg + rerr.envHint(tokens)})
			continue
		}
		if e := l.setValue(r, value, src); e != nil {
			errs = append(errs, e)
		}
	}
	errs = append(errs, l.finishLists()...)
	return l, cfg, append(errs, l.conflicts()...)
}

func (e *resolveError) envHint(tokens []string) string {
	if e.suggest == "" || e.at < 0 {
		return ""
	}
	fixed := append([]string(nil), tokens...)
	fixed[e.at] = strings.ToUpper(e.suggest)
	return fmt.Sprintf(" (did you mean %s%s?)", envPrefix, strings.Join(fixed, "_"))
}

func (e *resolveError) flagHint(tokens []string) string {
	if e.suggest == "" || e.at < 0 {
		return ""
	}
	fixed := append([]string(nil), tokens...)
	fixed[e.at] = e.suggest
	return fmt.Sprintf(" (did you mean --%s?)", strings.Join(fixed, "."))
}

// flagLayer reads the command-line arguments: --a.b.c=value or --a.b.c value; a boolean
// or an optional section alone means true (--api.insecure, --providers.docker). --config
// (Traefik: --configFile) names the configuration file.
func flagLayer(args []string) (*layer, configChoice, dynamic.Errors) {
	l := newLayer()
	var cfg configChoice
	var errs dynamic.Errors
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || a == "--" {
			errs = append(errs, &dynamic.Error{Msg: fmt.Sprintf("unexpected argument %q: options are written --name=value", a)})
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		src := dynamic.Source{Label: "--" + name}
		next, hasNext := "", i+1 < len(args) && !strings.HasPrefix(args[i+1], "--")
		if hasNext {
			next = args[i+1]
		}
		if strings.EqualFold(name, "config") || strings.EqualFold(name, "configFile") {
			switch {
			case hasValue:
			case hasNext:
				value, i = next, i+1
			default:
				errs = append(errs, &dynamic.Error{Source: src, Msg: "needs a file name: --config=wharf.yml"})
				continue
			}
			cfg = configChoice{path: value, src: src}
			continue
		}
		tokens := flagTokens(name)
		r, rerr := resolve(tokens, func(s string) string { return s })
		if rerr != nil {
			errs = append(errs, &dynamic.Error{Source: src, Msg: "unknown flag: " + rerr.msg + rerr.flagHint(tokens)})
			if !hasValue && hasNext {
				i++ // its value, most likely: do not report it again as an unexpected argument
			}
			continue
		}
		if !hasValue {
			switch {
			case isBoolish(r.leaf):
				value = "true"
				if _, err := strconv.ParseBool(next); hasNext && err == nil {
					value, i = next, i+1
				}
			case hasNext:
				value, i = next, i+1
			default:
				errs = append(errs, &dynamic.Error{Source: src, Msg: fmt.Sprintf("needs a value: write --%s=value", name)})
				continue
			}
		}
		if e := l.setValue(r, value, src); e != nil {
			errs = append(errs, e)
		}
	}
	errs = append(errs, l.finishLists()...)
	return l, cfg, append(errs, l.conflicts()...)
}

// flagTokens splits "entrypoints.web.http.tls.domains[0].main" into its names and indexes.
func flagTokens(name string) []string {
	var out []string
	for _, p := range strings.Split(name, ".") {
		if open := strings.IndexByte(p, '['); open > 0 && strings.HasSuffix(p, "]") {
			out = append(out, p[:open], p[open+1:len(p)-1])
			continue
		}
		out = append(out, p)
	}
	return out
}
