package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/sockets"
	"github.com/docker/go-connections/tlsconfig"
)

// engine is the narrow view of the Docker engine that the watch loop needs. sdkEngine is the
// real one; tests substitute fakes to drive reconnects and bursts deterministically.
type engine interface {
	// Containers lists the running containers, inspecting those want accepts plus wharf's
	// own container (matched against selfIDs), which it also returns.
	Containers(ctx context.Context, want func(*Container) bool, selfIDs []string) ([]Container, *Container, error)
	// Events follows the engine's events until ctx is done or the stream fails, which is
	// reported on the error channel.
	Events(ctx context.Context) (<-chan Event, <-chan error)
	Close() error
}

// Event is one engine event, reduced to what the log needs: every relevant event causes a
// full relist, so nothing else is read from it.
type Event struct {
	Type   string // "container" or "network"
	Action string // "start", "health_status: healthy", "connect", ...
	ID     string
	Name   string
}

// watchedActions are the events that can change routes. health_status matches every
// "health_status: <status>" action (the engine matches it as a prefix).
var watchedActions = []string{"create", "start", "die", "stop", "destroy", "rename",
	"health_status", "pause", "unpause", "connect", "disconnect"}

// relevant reports whether an event can change the routes; the engine filters too, this
// keeps a fake engine or an engine that ignores a filter honest.
func relevant(ev Event) bool {
	action, _, _ := strings.Cut(ev.Action, ":")
	switch ev.Type {
	case "container":
		return action != "connect" && action != "disconnect" && contains(watchedActions, action)
	case "network":
		return action == "connect" || action == "disconnect"
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sdkEngine is engine over the Docker SDK client, whose transport is wrapped in the
// read-only guard.
type sdkEngine struct {
	cli       *client.Client
	transport *http.Transport
}

// endpoint returns the engine address to use: the configured one, DOCKER_HOST, or the
// platform default (unix:///var/run/docker.sock).
func endpoint(cfg Config) string {
	if cfg.Endpoint != "" {
		return cfg.Endpoint
	}
	if h := os.Getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// tlsFromEnv follows the Docker CLI's variables when no TLS is configured:
// DOCKER_CERT_PATH holds ca.pem, cert.pem and key.pem; DOCKER_TLS_VERIFY turns on
// verification of the engine's certificate.
func tlsFromEnv() *TLSConfig {
	dir := os.Getenv(client.EnvOverrideCertPath)
	if dir == "" {
		return nil
	}
	return &TLSConfig{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"),
		Key: filepath.Join(dir, "key.pem"), InsecureSkipVerify: os.Getenv(client.EnvTLSVerify) == ""}
}

// newSDKEngine builds a client. It does no I/O, so it also validates the configuration.
// The client negotiates the API version on first use, so one build works against Engine
// 20.10 (API 1.41) and current engines alike; DOCKER_API_VERSION pins it, as in the CLI.
func newSDKEngine(cfg Config) (*sdkEngine, error) {
	host := endpoint(cfg)
	u, err := client.ParseHostURL(host)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix", "tcp", "npipe", "http", "https":
	default:
		return nil, fmt.Errorf("docker endpoint %q: scheme %q is not supported; use unix://, tcp:// or https://", host, u.Scheme)
	}
	// ResponseHeaderTimeout also bounds the event stream's start (the engine sends its
	// headers at once), so an engine that accepts connections but never answers counts as
	// down instead of hanging the session.
	tr := &http.Transport{MaxIdleConns: 6, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: cfg.HTTPClientTimeout}
	if err := sockets.ConfigureTransport(tr, u.Scheme, u.Host); err != nil {
		return nil, fmt.Errorf("docker endpoint %q: %w", host, err)
	}
	tc := cfg.TLS
	if tc == nil {
		tc = tlsFromEnv()
	}
	if tc == nil && u.Scheme == "https" {
		tc = &TLSConfig{} // https:// without files: verify the engine against the system roots
	}
	opts := []client.Opt{
		client.WithHost(host), // before WithHTTPClient: it configures the client it replaces
		client.WithHTTPClient(&http.Client{Transport: &readOnlyTransport{next: tr, basePath: u.Path}}),
		client.WithAPIVersionNegotiation(),
		client.WithVersionFromEnv(),
	}
	if tc != nil {
		tr.TLSClientConfig, err = tlsconfig.Client(tlsconfig.Options{CAFile: tc.CA, CertFile: tc.Cert,
			KeyFile: tc.Key, InsecureSkipVerify: tc.InsecureSkipVerify, ExclusiveRootPools: true})
		if err != nil {
			return nil, fmt.Errorf("docker TLS: %w", err)
		}
		opts = append(opts, client.WithScheme("https"))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &sdkEngine{cli: cli, transport: tr}, nil
}

// ping checks the engine answers and settles the API version.
func (e *sdkEngine) ping(ctx context.Context) (string, error) {
	p, err := e.cli.Ping(ctx)
	if err != nil {
		return "", err
	}
	e.cli.NegotiateAPIVersionPing(p)
	return e.cli.ClientVersion(), nil
}

func (e *sdkEngine) Close() error {
	e.transport.CloseIdleConnections()
	return e.cli.Close()
}

func (e *sdkEngine) Events(ctx context.Context) (<-chan Event, <-chan error) {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)))
	for _, a := range watchedActions {
		f.Add("event", a)
	}
	msgs, errs := e.cli.Events(ctx, events.ListOptions{Filters: f})
	out := make(chan Event)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				ev := Event{Type: string(m.Type), Action: string(m.Action), ID: m.Actor.ID, Name: m.Actor.Attributes["name"]}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs
}

// Containers lists running containers and inspects the ones wharf may serve. The list's
// own labels decide which: inspecting a thousand unrelated containers on every change would
// cost more than the whole conversion.
func (e *sdkEngine) Containers(ctx context.Context, want func(*Container) bool, selfIDs []string) ([]Container, *Container, error) {
	sums, err := e.cli.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	selfID := ""
	for _, s := range sums {
		c := Container{ID: s.ID, Labels: s.Labels}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		isSelf := matchesSelf(s.ID, selfIDs)
		if isSelf {
			selfID = s.ID
		}
		if isSelf || want(&c) {
			ids = append(ids, s.ID)
		}
	}
	byID, err := e.inspectAll(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	if err := e.resolveContainerModes(ctx, byID); err != nil {
		return nil, nil, err
	}
	var self *Container
	out := make([]Container, 0, len(byID))
	for _, id := range ids {
		c, ok := byID[id]
		if !ok {
			continue // gone between list and inspect; its destroy event follows
		}
		if id == selfID {
			s := c
			self = &s
		}
		out = append(out, c)
	}
	return out, self, nil
}

// inspectAll inspects containers a few at a time. A container that vanished in between is
// left out; any other failure fails the whole list, which the caller treats as a lost
// connection rather than serve a partial view.
func (e *sdkEngine) inspectAll(ctx context.Context, ids []string) (map[string]Container, error) {
	const parallel = 8
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, parallel)
		out      = make(map[string]Container, len(ids))
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := e.cli.ContainerInspect(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case cerrdefs.IsNotFound(err):
			case err != nil:
				if firstErr == nil {
					firstErr = fmt.Errorf("inspect %s: %w", shortID(id), err)
				}
			default:
				out[id] = fromInspect(resp)
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// resolveContainerModes gives a container that shares another's network stack
// (network_mode: container:<id>) that container's networks, which is where it answers.
func (e *sdkEngine) resolveContainerModes(ctx context.Context, byID map[string]Container) error {
	for id, c := range byID {
		ref, ok := strings.CutPrefix(c.NetworkMode, "container:")
		if !ok {
			continue
		}
		host, found := lookup(byID, ref)
		if !found {
			resp, err := e.cli.ContainerInspect(ctx, ref)
			if cerrdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("inspect %s: %w", shortID(ref), err)
			}
			host = fromInspect(resp)
		}
		c.NetworkMode, c.Networks = host.NetworkMode, host.Networks
		byID[id] = c
	}
	return nil
}

func lookup(byID map[string]Container, ref string) (Container, bool) {
	for id, c := range byID {
		if id == ref || c.Name == ref || len(ref) >= 12 && strings.HasPrefix(id, ref) {
			return c, true
		}
	}
	return Container{}, false
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// fromInspect copies the fields wharf uses out of the engine's answer.
func fromInspect(r container.InspectResponse) Container {
	var c Container
	if b := r.ContainerJSONBase; b != nil {
		c.ID, c.Name = b.ID, strings.TrimPrefix(b.Name, "/")
		if s := b.State; s != nil {
			c.State = s.Status
			if s.Health != nil {
				c.Health = s.Health.Status
			}
		}
		if b.HostConfig != nil {
			c.NetworkMode = string(b.HostConfig.NetworkMode)
		}
	}
	if r.Config != nil {
		c.Labels = r.Config.Labels
		for p := range r.Config.ExposedPorts {
			c.ExposedPorts = append(c.ExposedPorts, string(p))
		}
		sort.Strings(c.ExposedPorts)
	}
	if ns := r.NetworkSettings; ns != nil {
		c.Networks = make(map[string]Network, len(ns.Networks))
		for name, es := range ns.Networks {
			if es != nil {
				c.Networks[name] = Network{IP: es.IPAddress, IPv6: es.GlobalIPv6Address, Gateway: es.Gateway}
			}
		}
		for port, bindings := range ns.Ports {
			for _, b := range bindings {
				c.PublishedPorts = append(c.PublishedPorts, PublishedPort{ContainerPort: string(port), HostIP: b.HostIP, HostPort: b.HostPort})
			}
		}
		sort.Slice(c.PublishedPorts, func(i, j int) bool {
			a, b := c.PublishedPorts[i], c.PublishedPorts[j]
			return a.ContainerPort+"|"+a.HostIP+"|"+a.HostPort < b.ContainerPort+"|"+b.HostIP+"|"+b.HostPort
		})
	}
	return c
}

// errStreamClosed stands for an event stream that ended without saying why.
var errStreamClosed = errors.New("event stream closed")
