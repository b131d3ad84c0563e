package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/entrypoints"
	"github.com/wharfproxy/wharf/internal/api"
	"github.com/wharfproxy/wharf/internal/static"
	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router"
	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
	wtls "github.com/wharfproxy/wharf/tls"
)

func runCommand(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := static.Load(args, os.Environ())
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	a, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// app is one running wharf: its listeners, providers and the table they feed.
type app struct {
	cfg       *static.Config
	log       zerolog.Logger
	eps       []*entrypoints.EntryPoint
	epInfo    []api.EntryPoint
	sw        *router.Switcher
	opts      router.Options
	providers []provider.Provider
	apiLn     net.Listener
	obs       *observer // metrics, access log, what the API shows beyond the table
	tls       *wtls.Manager
	reported  map[string]bool // config problems already logged, so each is logged once
	firstSwap chan struct{}
	swapOnce  sync.Once
}

func newApp(cfg *static.Config, log zerolog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, reported: map[string]bool{}, firstSwap: make(chan struct{})}
	for _, w := range cfg.Warnings() {
		log.Warn().Str("source", w.Source.String()).Msg(w.Error())
	}
	// The certificate manager exists before the listeners are bound (entrypoints need its
	// TLS configuration), but manages names only after, so its challenge solver finds the
	// ports already served by wharf itself.
	var err error
	if a.tls, err = a.newTLS(); err != nil {
		return nil, err
	}
	if a.obs, err = newObserver(cfg, log); err != nil {
		a.tls.Close()
		return nil, err
	}
	epCfgs, err := a.entryPointConfigs()
	if err != nil {
		return nil, err
	}
	if a.providers, err = a.buildProviders(); err != nil {
		return nil, err
	}
	// Bind every listener before serving anything: a port in use stops startup here, with
	// the entrypoint's name, instead of leaving a half-started proxy.
	if a.eps, err = entrypoints.Listen(epCfgs); err != nil {
		a.tls.Close()
		return nil, err
	}
	if addr := a.apiAddress(); addr != "" {
		if a.apiLn, err = net.Listen("tcp", addr); err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("api: cannot listen on %q: %w (set api.address, or api: false)", addr, err)
		}
	}
	host, _ := os.Hostname()
	a.opts = router.Options{Transports: upstream.NewTransports(), Health: upstream.NewHealthStore(), Buffers: upstream.NewBufferPool(), ServerHost: host, Log: log}
	for _, ep := range a.eps {
		sc := cfg.EntryPoints[ep.Name()]
		a.opts.EntryPoints = append(a.opts.EntryPoints, router.EntryPoint{Name: ep.Name(), Default: sc.AsDefault, TLS: sc.HTTP.TLS != nil})
		a.epInfo = append(a.epInfo, api.EntryPoint{Name: ep.Name(), Address: ep.Addr().String(), TLS: sc.HTTP.TLS != nil})
	}
	a.sw = router.NewSwitcher(len(a.eps))
	if err := a.obs.attach(a); err != nil {
		a.closeListeners()
		a.tls.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) closeListeners() {
	for _, ep := range a.eps {
		_ = ep.Shutdown(context.Background())
	}
	if a.apiLn != nil {
		_ = a.apiLn.Close()
	}
}

// Table and EntryPoints make app an api.State.
func (a *app) Table() *router.Table          { return a.sw.Load() }
func (a *app) EntryPoints() []api.EntryPoint { return a.epInfo }

func (a *app) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan provider.Message, 16)
	var wg sync.WaitGroup
	for _, p := range a.providers {
		wg.Add(1)
		go func(p provider.Provider) {
			defer wg.Done()
			if err := p.Provide(ctx, msgs); err != nil && ctx.Err() == nil {
				a.log.Error().Err(err).Str("provider", p.Name()).Msg("provider stopped; the last configuration it sent keeps serving")
			}
		}(p)
	}
	agg := provider.NewAggregator()
	agg.Throttle = a.cfg.Providers.ProvidersThrottleDuration
	go agg.Run(ctx, msgs, a.apply)
	if len(a.providers) == 0 {
		a.log.Warn().Msg("no provider is configured: every request answers 404; add providers.file or providers.docker")
		a.swapOnce.Do(func() { close(a.firstSwap) })
	}
	// Give providers a moment to send their first snapshot, so the first requests are not
	// answered 404 while the table is still empty. Connections wait in the listen queue.
	select {
	case <-a.firstSwap:
	case <-time.After(5 * time.Second):
		a.log.Warn().Msg("no configuration after 5s; serving anyway")
	case <-ctx.Done():
	}
	errc := make(chan error, len(a.eps)+2)
	a.obs.start(ctx, errc)
	for i, ep := range a.eps {
		a.log.Info().Str("entrypoint", ep.Name()).Str("address", ep.Addr().String()).Msg("entrypoint listening")
		go func(i int, ep *entrypoints.EntryPoint) {
			errc <- ep.Serve(a.obs.entryPoint(ep.Name(), a.sw.Handler(i)))
		}(i, ep)
	}
	apiSrv := a.serveAPI(errc)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			a.log.Error().Err(err).Msg("listener failed; shutting down")
			cancel()
			a.shutdown(apiSrv)
			return err
		}
	}
	a.shutdown(apiSrv)
	wg.Wait()
	return nil
}

// shutdown stops accepting and lets requests in flight finish within the grace period.
func (a *app) shutdown(apiSrv *http.Server) {
	grace := a.graceTimeout()
	a.log.Info().Dur("grace", grace).Msg("shutting down: draining requests in flight")
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, ep := range a.eps {
		wg.Add(1)
		go func(ep *entrypoints.EntryPoint) {
			defer wg.Done()
			if err := ep.Shutdown(ctx); err != nil {
				a.log.Warn().Err(err).Str("entrypoint", ep.Name()).Msg("requests still running at the end of the grace period were cut")
			}
		}(ep)
	}
	if apiSrv != nil {
		_ = apiSrv.Shutdown(ctx)
	}
	wg.Wait()
	a.opts.Transports.CloseIdle()
	a.tls.Close()
	a.obs.close(ctx)
	a.log.Info().Msg("stopped")
}

func (a *app) serveAPI(errc chan<- error) *http.Server {
	if a.apiLn == nil {
		return nil
	}
	srv := &http.Server{
		Handler:           a.obs.api,
		ReadHeaderTimeout: entrypoints.DefaultReadHeaderTimeout,
		ReadTimeout:       entrypoints.DefaultReadTimeout,
		IdleTimeout:       entrypoints.DefaultIdleTimeout,
	}
	a.log.Info().Str("address", a.apiLn.Addr().String()).Msg("api listening")
	go func() {
		if err := srv.Serve(a.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("api: %w", err)
		}
	}()
	return srv
}

// apply compiles a new snapshot and swaps it in. It runs on the aggregator's goroutine, so
// tables are built one at a time, in order.
func (a *app) apply(s *provider.Snapshot) {
	start := time.Now()
	tab, _ := router.Compile(s.Config, s.Errors, a.opts)
	a.sw.Swap(tab)
	info := tab.Info()
	problems := append(append(dynamic.Errors(nil), info.Errors...), a.updateTLS(info, s.Config)...)
	a.reportProblems(problems)
	a.obs.applied(s, tab, problems)
	a.log.Info().Int("routers", len(info.Routers)).Int("errors", len(info.Errors)).
		Dur("took", time.Since(start)).Msg("configuration applied")
	a.swapOnce.Do(func() { close(a.firstSwap) })
}

// reportProblems logs each configuration problem once, when it appears, and says when it is
// gone, so a log is not flooded by the same mistake on every reload.
func (a *app) reportProblems(errs dynamic.Errors) {
	now := make(map[string]bool, len(errs))
	for _, e := range errs {
		msg := e.Error()
		now[msg] = true
		if a.reported[msg] {
			continue
		}
		ev := a.log.Error()
		if e.Warning {
			ev = a.log.Warn()
		}
		ev.Str("source", e.Source.String()).Msg(msg)
	}
	for msg := range a.reported {
		if !now[msg] {
			a.log.Info().Str("was", msg).Msg("configuration problem resolved")
		}
	}
	a.reported = now
}
