package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/entrypoints"
	"github.com/wharfproxy/wharf/internal/static"
	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/provider/docker"
	"github.com/wharfproxy/wharf/provider/file"
)

// entryPointConfigs turns the static entrypoints into listener configurations, sorted by name
// so that entrypoint indexes are stable.
func (a *app) entryPointConfigs() ([]entrypoints.Config, error) {
	names := sortedNames(a.cfg.EntryPoints)
	out := make([]entrypoints.Config, 0, len(names))
	for _, name := range names {
		ep := a.cfg.EntryPoints[name]
		rt := ep.Transport.RespondingTimeouts
		c := entrypoints.Config{
			Name:                 name,
			Address:              ep.Address,
			ReadHeaderTimeout:    rt.ReadHeaderTimeout,
			ReadTimeout:          rt.ReadTimeout,
			WriteTimeout:         rt.WriteTimeout,
			IdleTimeout:          rt.IdleTimeout,
			MaxHeaderBytes:       ep.HTTP.MaxHeaderBytes,
			MaxConcurrentStreams: ep.HTTP2.MaxConcurrentStreams,
			TrustedIPs:           ep.ForwardedHeaders.TrustedPrefixes(),
			InsecureForwarded:    ep.ForwardedHeaders.Insecure,
			Log:                  a.log.With().Str("entrypoint", name).Logger(),
			ConnState:            a.obs.connState(name),
		}
		if r := ep.HTTP.Redirections; r != nil && r.EntryPoint != nil {
			rd, err := a.redirect(name, r.EntryPoint)
			if err != nil {
				return nil, err
			}
			c.Redirect = rd
		}
		if p := a.cfg.Ping; p != nil && p.EntryPoint == name {
			c.Intercept = pingIntercept
		}
		if a.httpChallengeEntryPoints()[name] {
			// ACME HTTP-01 is answered before the redirect and before routing, so no
			// catch-all router can shadow it.
			ping := c.Intercept
			c.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
				return a.tls.HTTPChallenge(w, r) || (ping != nil && ping(w, r))
			}
		}
		c.TLS, c.SameTLSOptions = a.tls.TLSConfig(), a.sameTLSOptions
		out = append(out, c)
	}
	return out, nil
}

func pingIntercept(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/ping" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "OK")
	return true
}

// redirect resolves redirections.entryPoint.to: another entrypoint's name (its port is used)
// or a port written ":443".
func (a *app) redirect(from string, r *static.RedirectEntryPoint) (*entrypoints.Redirect, error) {
	port := strings.TrimPrefix(r.To, ":")
	if target, ok := a.cfg.EntryPoints[r.To]; ok {
		_, p, err := net.SplitHostPort(target.Address)
		if err != nil {
			return nil, fmt.Errorf("entrypoint %q: redirect target %q has address %q: %v", from, r.To, target.Address, err)
		}
		port = p
	}
	return &entrypoints.Redirect{Scheme: r.Scheme, Port: port, Permanent: r.Permanent == nil || *r.Permanent}, nil
}

func (a *app) buildProviders() ([]provider.Provider, error) {
	var out []provider.Provider
	if f := a.cfg.Providers.File; f != nil {
		p, err := file.New(file.Config{Filename: f.Filename, Directory: f.Directory, Watch: f.Watch}, a.log.With().Str("provider", "file").Logger())
		if err != nil {
			return nil, fmt.Errorf("providers.file: %w", err)
		}
		what := f.Filename
		if what == "" {
			what = f.Directory
		}
		a.log.Info().Str("provider", "file").Str("path", what).Bool("watch", f.Watch == nil || *f.Watch).Msg("provider configured")
		out = append(out, p)
	}
	if d := a.cfg.Providers.Docker; d != nil {
		cfg := docker.Config{
			Endpoint:           d.Endpoint,
			LabelPrefix:        d.LabelPrefix,
			ExposedByDefault:   d.ExposedByDefault != nil && *d.ExposedByDefault,
			DefaultRule:        d.DefaultRule,
			Network:            d.Network,
			Constraints:        d.Constraints,
			Debounce:           d.Debounce,
			ResyncInterval:     d.ResyncInterval,
			AllowEmptyServices: d.AllowEmptyServices,
			HTTPClientTimeout:  d.HTTPClientTimeout,
			ReadOnce:           d.Watch != nil && !*d.Watch,
		}
		if t := d.TLS; t != nil {
			cfg.TLS = &docker.TLSConfig{CA: t.CA, Cert: t.Cert, Key: t.Key, InsecureSkipVerify: t.InsecureSkipVerify}
		}
		p, err := docker.New(cfg, a.log) // the provider names itself in its log lines
		if err != nil {
			return nil, fmt.Errorf("providers.docker: %w", err)
		}
		a.log.Info().Str("provider", "docker").Str("endpoint", d.Endpoint).Str("labelPrefix", d.LabelPrefix).Msg("provider configured")
		out = append(out, p)
	}
	return out, nil
}

// apiAddress is where the API (and /ping, unless it has an entrypoint) listens; "" when off.
func (a *app) apiAddress() string {
	if a.cfg.API == nil {
		return ""
	}
	return a.cfg.API.Address
}

func (a *app) graceTimeout() time.Duration {
	grace := a.cfg.Server.GraceTimeout
	for _, ep := range a.cfg.EntryPoints {
		if g := ep.Transport.LifeCycle.GraceTimeOut; g > grace {
			grace = g
		}
	}
	return grace
}

// newLogger builds wharf's logger: JSON unless a terminal is attached or console is asked for.
func newLogger(c static.Log, stderr io.Writer) (zerolog.Logger, func(), error) {
	w, closeFn := stderr, func() {}
	if c.FilePath != "" {
		f, err := os.OpenFile(c.FilePath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("log.filePath: %w", err)
		}
		w, closeFn = f, func() { _ = f.Close() }
	}
	format := c.Format
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "console"
		}
	}
	if format == "console" || format == "common" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: c.NoColor, TimeFormat: time.RFC3339}
	}
	level, err := zerolog.ParseLevel(strings.ToLower(c.Level))
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), closeFn, nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
