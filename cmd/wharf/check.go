package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/internal/api"
	"github.com/wharfproxy/wharf/internal/static"
	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
)

const checkUsage = `wharf check — validate the configuration without serving it.

Usage:
  wharf check [--config FILE] [--format text|json] [--strict] [--<option>=<value> ...]

Loads the static configuration the way "wharf run" does (file, then WHARF_* environment,
then flags), reads the file provider's files, and, when providers.docker is configured and
the engine answers, the labels of the running containers, once. Nothing is served and no
port is bound.

It prints every problem with the place it was written (file:line:col, or the container and
its label) and the fix when a close match exists, then the routes that would be served:
entrypoint, rule, service, servers and TLS.

Options:
  --config FILE     the static configuration (default /etc/wharf/wharf.yml, then ./wharf.yml)
  --format FORMAT   text (default) or json, for scripts
  --strict          warnings fail the check too

Exit status:
  0  nothing is wrong
  1  configuration errors (or, with --strict, warnings)
  2  usage error

Examples:
  wharf check --config wharf.yml
  wharf check --config wharf.yml --format json | jq -r '.errors[].message'
  docker run --rm -v /var/run/docker.sock:/var/run/docker.sock:ro \
    -v "$PWD/wharf.yml:/etc/wharf/wharf.yml:ro" wharf check
`

// dockerCheckTimeout bounds how long check waits for the Docker engine.
const dockerCheckTimeout = 10 * time.Second

// checkReport is what check prints; --format json prints it as is.
type checkReport struct {
	OK       bool              `json:"ok"`
	Config   string            `json:"config,omitempty"` // the static configuration file read
	Errors   []api.ConfigError `json:"errors"`           // errors first, then warnings
	Routes   []checkRoute      `json:"routes"`
	Notes    []string          `json:"notes,omitempty"` // what could not be checked, and why
	Summary  checkSummary      `json:"summary"`
	exitCode int
}

type checkRoute struct {
	EntryPoint string   `json:"entryPoint"`
	Router     string   `json:"router"`
	Rule       string   `json:"rule"`
	Priority   int      `json:"priority"`
	Service    string   `json:"service"`
	Servers    []string `json:"servers"`
	TLS        string   `json:"tls"` // "" without TLS, else how: "tls", "resolver le", "entrypoint"
}

type checkSummary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Routes   int `json:"routes"`
	Disabled int `json:"disabledRouters"`
}

// checkCommand runs `wharf check` and returns the exit status.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	format, strict, rest, err := checkFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "wharf check: %v\n\n%s", err, checkUsage)
		return 2
	}
	rep := runCheck(ctx, rest, strict)
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // rules are full of && that scripts should see as written
		_ = enc.Encode(rep)
	} else {
		printCheck(stdout, rep)
	}
	return rep.exitCode
}

// checkFlags takes check's own flags out of args; the rest are static configuration flags.
func checkFlags(args []string) (format string, strict bool, rest []string, err error) {
	format = "text"
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--strict" || a == "-strict":
			strict = true
		case a == "--format" || a == "-format":
			if i+1 >= len(args) {
				return "", false, nil, errors.New("--format needs a value: text or json")
			}
			i++
			format = args[i]
		case strings.HasPrefix(a, "--format=") || strings.HasPrefix(a, "-format="):
			format = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	if format != "text" && format != "json" {
		return "", false, nil, fmt.Errorf("--format %q: write text or json", format)
	}
	return format, strict, rest, nil
}

// runCheck loads and compiles everything once, the way wharf run would on its first reload.
func runCheck(ctx context.Context, args []string, strict bool) *checkReport {
	rep := &checkReport{Errors: []api.ConfigError{}, Routes: []checkRoute{}}
	cfg, err := static.Load(args, os.Environ())
	if err != nil {
		var des dynamic.Errors
		if !errors.As(err, &des) {
			des = dynamic.Errors{{Msg: err.Error()}}
		}
		rep.finish(des, strict)
		return rep
	}
	rep.Config = cfg.ConfigFile()
	problems := append(dynamic.Errors(nil), cfg.Warnings()...)
	a := &app{cfg: cfg, log: zerolog.Nop()}
	providers, err := a.buildProviders()
	if err != nil {
		problems = append(problems, &dynamic.Error{Msg: err.Error()})
		rep.finish(problems, strict)
		return rep
	}
	var msgs []provider.Message
	for _, p := range providers {
		m, note := snapshotOnce(ctx, p)
		if note != "" {
			rep.Notes = append(rep.Notes, note)
			continue
		}
		msgs = append(msgs, m)
	}
	snap := provider.Merge(msgs)
	opts := router.Options{Log: zerolog.Nop()}
	names := sortedEntryPoints(cfg)
	for _, n := range names {
		opts.EntryPoints = append(opts.EntryPoints, router.EntryPoint{Name: n, Default: cfg.EntryPoints[n].AsDefault})
	}
	tab, _ := router.Compile(snap.Config, snap.Errors, opts)
	defer tab.Close()
	rep.Routes = routesOf(cfg, tab.Info())
	problems = append(problems, tab.Info().Errors...)
	rep.finish(append(problems, certificateProblems(snap.Config, time.Now())...), strict)
	rep.Summary.Disabled = countNotServed(tab.Info(), rep.Errors)
	return rep
}

// countNotServed counts the routers that will not be served: those the compiler left out,
// and those a provider could not even build (a broken label), known only by their errors.
func countNotServed(info *router.Info, errs []api.ConfigError) int {
	n, known := 0, map[string]bool{}
	for _, r := range info.Routers {
		known[r.Name] = true
		if !r.Enabled {
			n++
		}
	}
	for _, e := range errs {
		if name, ok := strings.CutPrefix(e.Concerns, "router "); ok && e.Severity == "error" && !known[name] {
			known[name] = true
			n++
		}
	}
	return n
}

// snapshotOnce asks a provider for its configuration once: the file provider reads its
// files; the Docker provider lists the containers, when the engine answers in time. A
// provider that cannot say returns a note instead.
func snapshotOnce(ctx context.Context, p provider.Provider) (provider.Message, string) {
	switch x := p.(type) {
	case interface{ Load() provider.Message }:
		return x.Load(), ""
	case interface {
		Snapshot(context.Context) (provider.Message, error)
	}:
		ctx, cancel := context.WithTimeout(ctx, dockerCheckTimeout)
		defer cancel()
		m, err := x.Snapshot(ctx)
		if err != nil {
			return m, fmt.Sprintf("%s provider: not checked: %v", p.Name(), err)
		}
		return m, ""
	}
	return provider.Message{}, fmt.Sprintf("%s provider: cannot be checked offline", p.Name())
}

// certificateProblems checks the static certificates the way the certificate manager will
// load them, without starting it (it would contact ACME servers): each pair must load, and
// must not be expired or about to be.
func certificateProblems(cfg *dynamic.Configuration, now time.Time) dynamic.Errors {
	if cfg == nil || cfg.TLS == nil {
		return nil
	}
	var errs dynamic.Errors
	for _, c := range cfg.TLS.Certificates {
		pair, err := loadPair(c.CertFile, c.KeyFile)
		if err != nil {
			errs = append(errs, dynamic.Errorf(c.Source, "tls certificate: %v", err))
			continue
		}
		switch left := pair.Leaf.NotAfter.Sub(now); {
		case left <= 0:
			errs = append(errs, dynamic.Errorf(c.Source, "tls certificate for %s expired on %s",
				strings.Join(pair.Leaf.DNSNames, ", "), pair.Leaf.NotAfter.Format(time.DateOnly)))
		case left < 7*24*time.Hour:
			errs = append(errs, &dynamic.Error{Source: c.Source, Warning: true, Msg: fmt.Sprintf(
				"tls certificate for %s expires on %s", strings.Join(pair.Leaf.DNSNames, ", "), pair.Leaf.NotAfter.Format(time.DateOnly))})
		}
	}
	return errs
}

// loadPair loads a certificate and its key, each a file or inline PEM.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	read := func(what, v string) ([]byte, error) {
		if strings.Contains(v, "-----BEGIN") {
			return []byte(v), nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return b, nil
	}
	certPEM, err := read("certFile", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := read("keyFile", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func (rep *checkReport) finish(problems dynamic.Errors, strict bool) {
	rep.Errors = api.ErrorsOf(problems)
	for _, e := range rep.Errors {
		if e.Severity == "warning" {
			rep.Summary.Warnings++
		} else {
			rep.Summary.Errors++
		}
	}
	rep.Summary.Routes = len(rep.Routes)
	rep.OK = rep.Summary.Errors == 0 && (!strict || rep.Summary.Warnings == 0)
	if !rep.OK {
		rep.exitCode = 1
	}
}

func sortedEntryPoints(cfg *static.Config) []string {
	names := make([]string, 0, len(cfg.EntryPoints))
	for n := range cfg.EntryPoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// routesOf lists what would be served: one row per router and entrypoint, in match order.
func routesOf(cfg *static.Config, info *router.Info) []checkRoute {
	servers := map[string][]string{}
	for _, s := range info.Services {
		servers[s.Name] = s.Servers
	}
	var out []checkRoute
	for _, r := range info.Routers {
		if !r.Enabled {
			continue
		}
		for _, ep := range r.EntryPoints {
			row := checkRoute{EntryPoint: ep, Router: r.Name, Rule: r.Rule, Priority: r.Priority, Service: r.Service,
				Servers: nonNil(servers[r.Service])}
			switch {
			case r.TLS != nil && r.TLS.CertResolver != "":
				row.TLS = "resolver " + r.TLS.CertResolver
			case r.TLS != nil:
				row.TLS = "tls"
			case cfg.EntryPoints[ep] != nil && cfg.EntryPoints[ep].HTTP.TLS != nil:
				row.TLS = "entrypoint"
			}
			out = append(out, row)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].EntryPoint != out[j].EntryPoint {
			return out[i].EntryPoint < out[j].EntryPoint
		}
		return out[i].Priority > out[j].Priority
	})
	return nonNil(out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printCheck(w io.Writer, rep *checkReport) {
	if rep.Config != "" {
		fmt.Fprintf(w, "configuration: %s\n", rep.Config)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(w, "\nProblems:\n")
	}
	for _, e := range rep.Errors {
		msg := strings.TrimPrefix(e.Message, e.Source+": ")
		where := e.Source
		if where == "" {
			where = "(static configuration)"
		}
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", e.Severity, where, msg)
		if e.Suggestion != "" {
			fmt.Fprintf(w, "           fix: write %q\n", e.Suggestion)
		}
	}
	fmt.Fprintf(w, "\nRoutes that would be served (%d):\n", len(rep.Routes))
	if len(rep.Routes) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ENTRYPOINT\tRULE\tSERVICE\tSERVERS\tTLS")
		for _, r := range rep.Routes {
			srv := strings.Join(r.Servers, ", ")
			if srv == "" {
				srv = "(none)"
			}
			tls := r.TLS
			if tls == "" {
				tls = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.EntryPoint, r.Rule, r.Service, srv, tls)
		}
		_ = tw.Flush()
	}
	verdict := "ok"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "\n%s: %s, %s, %s, %s not served\n", verdict, plural(rep.Summary.Errors, "error"),
		plural(rep.Summary.Warnings, "warning"), plural(rep.Summary.Routes, "route"), plural(rep.Summary.Disabled, "router"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

const healthcheckUsage = `wharf healthcheck — exit 0 when a running wharf answers /ping.

Usage:
  wharf healthcheck [--config FILE] [--<option>=<value> ...]

Reads the same static configuration as the wharf it checks, and asks /ping where that wharf
serves it: on ping.entryPoint when set, else on the API's address. It is what a container
image's HEALTHCHECK runs.

Examples:
  wharf healthcheck --config /etc/wharf/wharf.yml
  HEALTHCHECK CMD ["wharf", "healthcheck"]
`

const versionUsage = `wharf version — print the version, commit and build date.

Usage:
  wharf version
`

// helpFor returns the help of a command; the general help for run and for anything unknown.
func helpFor(cmd string) string {
	switch cmd {
	case "check":
		return checkUsage
	case "healthcheck":
		return healthcheckUsage
	case "version":
		return versionUsage
	}
	return usage
}
