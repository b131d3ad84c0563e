// Package docker is the Docker provider: it follows the engine's containers and turns their
// labels into routers, services and middlewares, live.
//
// The engine is read through a narrow, read-only view (see guard.go): an initial list, then
// the event stream. Events only mark the state dirty and re-arm a short debounce, so a burst
// of events costs a handful of relists; a periodic resync heals missed events; a lost stream
// is re-dialled with capped backoff, forever, while the last good routes keep serving.
// Labels are decoded by the same strict decoder as the file provider (router/dynamic), under
// the grammar and defaults of LABELS.md. Engine SDK types never leave this package.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router/dynamic"
)

// Defaults, chosen for "a started container is served within a second".
const (
	// DefaultDebounce is the quiet time after the last event before a relist. Container
	// start is a burst of a few events within milliseconds; 200ms swallows it while keeping
	// the route's appearance far under a second (Traefik waits 2s).
	DefaultDebounce = 200 * time.Millisecond
	// DefaultResyncInterval bounds how long a missed event can go unnoticed. Events are
	// rarely missed while the stream is up (a lost stream triggers a full relist on its own),
	// so this is a safety net, not the mechanism; it matches the static configuration's default.
	DefaultResyncInterval = 5 * time.Minute
)

// Tuning that is not worth a setting.
const (
	// maxWaitFactor caps the debounce: under a continuous stream of events, a relist still
	// happens every maxWaitFactor × Debounce.
	maxWaitFactor  = 5
	listTimeout    = 30 * time.Second // a hung engine counts as a lost one
	backoffInitial = 250 * time.Millisecond
	backoffMax     = 10 * time.Second
)

// Log field names.
const (
	logEndpoint   = "endpoint"
	logAPIVersion = "api_version"
	logRetryIn    = "retry_in"
	logRebuild    = "containers"
	logSelf       = "self_container"
)

// Config configures the provider. The zero value reads the local engine with wharf's
// defaults.
type Config struct {
	Endpoint         string     // "": DOCKER_HOST, else unix:///var/run/docker.sock
	TLS              *TLSConfig // nil: DOCKER_CERT_PATH/DOCKER_TLS_VERIFY when set, else no TLS
	LabelPrefix      string     // "": "wharf"; "traefik" reads Traefik's labels unchanged
	ExposedByDefault bool       // false: only containers labelled <prefix>.enable=true
	DefaultRule      string     // "": DefaultRule, Host(`{{ normalize .Name }}`)
	Network          string     // preferred network for containers on several
	Constraints      string     // "": every container; else Label(`k`,`v`) && ... (Traefik syntax)
	Debounce         time.Duration
	ResyncInterval   time.Duration
	// AllowEmptyServices keeps the services of starting or unhealthy containers, without
	// servers, so their routes answer 503 rather than 404.
	AllowEmptyServices bool
	// HTTPClientTimeout bounds each request to the engine (ping, list, inspect, the start
	// of the event stream); an engine slower than that counts as lost. 0: 30s.
	HTTPClientTimeout time.Duration
	// ReadOnce lists the containers once and does not follow events
	// (providers.docker.watch: false).
	ReadOnce bool
}

// TLSConfig is how to reach an engine over TCP with TLS. Paths are PEM files.
type TLSConfig struct {
	CA                 string
	Cert               string
	Key                string
	InsecureSkipVerify bool
}

// Provider follows one Docker engine.
type Provider struct {
	cfg        Config
	log        zerolog.Logger
	conv       *converter
	selfIDs    []string
	dial       func(ctx context.Context) (engine, error)
	connected  atomic.Bool
	reconnects atomic.Uint64
	backoffMin time.Duration
	backoffMax time.Duration
}

var _ provider.Provider = (*Provider)(nil)

// New checks the configuration (endpoint, TLS files, rule template, constraints) without
// contacting the engine, so a mistake fails at start-up and an engine that is down does not.
func New(cfg Config, log zerolog.Logger) (*Provider, error) {
	if cfg.HTTPClientTimeout <= 0 {
		cfg.HTTPClientTimeout = listTimeout
	}
	if cfg.LabelPrefix == "" {
		cfg.LabelPrefix = "wharf"
	}
	if cfg.DefaultRule == "" {
		cfg.DefaultRule = DefaultRule
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	conv, err := newConverter(ConvertOptions{LabelPrefix: cfg.LabelPrefix, ExposedByDefault: cfg.ExposedByDefault,
		DefaultRule: cfg.DefaultRule, Network: cfg.Network, Constraints: cfg.Constraints, AllowEmptyServices: cfg.AllowEmptyServices})
	if err != nil {
		return nil, fmt.Errorf("docker provider: %w", err)
	}
	conv.memo = newMemo()
	probe, err := newSDKEngine(cfg)
	if err != nil {
		return nil, fmt.Errorf("docker provider: %w", err)
	}
	probe.Close()
	hostname, _ := os.Hostname()
	p := &Provider{cfg: cfg, log: log.With().Str("provider", "docker").Logger(), conv: conv,
		selfIDs: detectSelf(os.ReadFile, hostname), backoffMin: backoffInitial, backoffMax: backoffMax}
	p.dial = p.dialSDK
	return p, nil
}

// dialSDK connects to the engine and settles the API version.
func (p *Provider) dialSDK(ctx context.Context) (engine, error) {
	e, err := newSDKEngine(p.cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPClientTimeout)
	defer cancel()
	v, err := e.ping(pctx)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w%s", endpoint(p.cfg), err, socketHint(endpoint(p.cfg), err))
	}
	p.log.Debug().Str(logEndpoint, endpoint(p.cfg)).Str(logAPIVersion, v).Msg("connected to the Docker engine")
	return e, nil
}

// Name is "docker": everything this provider defines is qualified as name@docker.
func (p *Provider) Name() string { return "docker" }

// Connected reports whether the event stream is up, for metrics and the API.
func (p *Provider) Connected() bool { return p.connected.Load() }

// Reconnects counts how often the connection was re-established after being lost.
func (p *Provider) Reconnects() uint64 { return p.reconnects.Load() }

// Snapshot lists the containers and converts them once, for `wharf check`.
func (p *Provider) Snapshot(ctx context.Context) (provider.Message, error) {
	e, err := p.dial(ctx)
	if err != nil {
		return provider.Message{}, err
	}
	defer e.Close()
	lctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPClientTimeout)
	defer cancel()
	list, self, err := e.Containers(lctx, p.conv.wanted, p.selfIDs)
	if err != nil {
		return provider.Message{}, fmt.Errorf("list containers: %w", err)
	}
	return p.message(list, self), nil
}

// message converts a list into the provider's message.
func (p *Provider) message(list []Container, self *Container) provider.Message {
	cv := *p.conv
	cv.opts.Self = self
	cfg, errs := cv.convert(list)
	return provider.Message{Provider: p.Name(), Config: cfg, Errors: errs}
}

// startupError is sent when the engine cannot be reached before the first snapshot, so the
// problem is visible (API, `wharf check`) instead of docker routes being silently absent.
func (p *Provider) startupError(err error) provider.Message {
	return provider.Message{Provider: p.Name(), Config: dynamic.NewConfiguration(), Errors: dynamic.Errors{{
		Source: dynamic.Source{Provider: p.Name()}, Msg: fmt.Sprintf("%v; retrying", err)}}}
}

// socketHint says what to do when the engine's unix socket refuses wharf: the usual cause
// is running wharf as a non-root user (as its image does) without the socket's group.
func socketHint(ep string, err error) string {
	path, ok := strings.CutPrefix(ep, "unix://")
	if !ok || !errors.Is(err, os.ErrPermission) && !strings.Contains(err.Error(), "permission denied") {
		return ""
	}
	st, serr := os.Stat(path)
	if serr != nil {
		return ""
	}
	gid := st.Sys().(*syscall.Stat_t).Gid
	return fmt.Sprintf(" (the socket belongs to group %d and wharf runs as uid %d: add the group, e.g. compose group_add: [\"%d\"], or use a socket proxy)", gid, os.Getuid(), gid)
}
