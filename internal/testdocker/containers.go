package testdocker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// RunSpec describes a container to run detached.
type RunSpec struct {
	Name    string            // "": a unique name from Base
	Base    string            // prefix of the generated name; "": "c"
	Image   string            // image id or name
	Labels  map[string]string // the test's own labels; RunLabel is added
	Env     map[string]string
	Network string   // --network: a network name, "host", or "" for the default bridge
	Expose  []string // extra --expose ports
	// HealthInterval, when set, runs the image's health check this often and declares the
	// container unhealthy after one failure, so health tests take milliseconds.
	HealthInterval time.Duration
	NoHealthcheck  bool     // disable the image's health check
	Args           []string // further docker run flags
	Cmd            []string // arguments after the image
}

// Container is a container a test started.
type Container struct {
	ID   string
	Name string
}

// Run starts a container and removes it (with its anonymous volumes) when the test ends.
func (e *Engine) Run(t testing.TB, spec RunSpec) Container {
	t.Helper()
	if spec.Name == "" {
		base := spec.Base
		if base == "" {
			base = "c"
		}
		spec.Name = e.Name(base)
	}
	args := []string{"run", "-d", "--name", spec.Name, "--label", RunLabel + "=" + e.RunID}
	for _, l := range sortedPairs(spec.Labels) {
		args = append(args, "--label", l)
	}
	for _, kv := range sortedPairs(spec.Env) {
		args = append(args, "--env", kv)
	}
	if spec.Network != "" {
		args = append(args, "--network", spec.Network)
	}
	for _, p := range spec.Expose {
		args = append(args, "--expose", p)
	}
	if spec.HealthInterval > 0 {
		args = append(args, "--health-interval", spec.HealthInterval.String(), "--health-retries", "1",
			"--health-timeout", "2s")
	}
	if spec.NoHealthcheck {
		args = append(args, "--no-healthcheck")
	}
	args = append(args, spec.Args...)
	args = append(args, spec.Image)
	args = append(args, spec.Cmd...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := e.Docker(ctx, args...)
	if id != "" {
		// Registered even when run failed after creating the container.
		e.cleanup(t, "rm", "--force", "--volumes", id)
	}
	if err != nil {
		t.Fatal(err)
	}
	return Container{ID: id, Name: spec.Name}
}

// Stop stops a container (SIGTERM, then SIGKILL after timeout).
func (e *Engine) Stop(t testing.TB, id string, timeout time.Duration) {
	t.Helper()
	e.must(t, "stop", "--time", fmt.Sprint(int(timeout.Seconds())), id)
}

// Start starts a stopped container.
func (e *Engine) Start(t testing.TB, id string) {
	t.Helper()
	e.must(t, "start", id)
}

// Remove removes a container at once, running or not.
func (e *Engine) Remove(t testing.TB, id string) {
	t.Helper()
	e.must(t, "rm", "--force", "--volumes", id)
}

// Rename renames a container.
func (e *Engine) Rename(t testing.TB, id, name string) {
	t.Helper()
	e.must(t, "rename", id, name)
}

// IP returns a container's IPv4 address on a network ("" when it has none).
func (e *Engine) IP(t testing.TB, id, network string) string {
	t.Helper()
	return e.must(t, "inspect", "--format", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, network), id)
}

// Health returns the health status: "starting", "healthy", "unhealthy", or "" without a
// health check.
func (e *Engine) Health(t testing.TB, id string) string {
	t.Helper()
	return e.must(t, "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
}

// WaitHealth polls until the container reports want, or fails the test at the deadline.
func (e *Engine) WaitHealth(t testing.TB, id, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := e.Health(t, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: health %q after %v; want %q", id[:12], got, within, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the engine, not waiting for the code under test
	}
}

// Network creates a bridge network and removes it when the test ends. It returns its name.
func (e *Engine) Network(t testing.TB, base string) string {
	t.Helper()
	name := e.Name(base)
	id := e.must(t, "network", "create", "--label", RunLabel+"="+e.RunID, name)
	e.cleanup(t, "network", "rm", id)
	return name
}

// Connect attaches a container to a network.
func (e *Engine) Connect(t testing.TB, network, id string) {
	t.Helper()
	e.must(t, "network", "connect", network, id)
}

// Disconnect detaches a container from a network.
func (e *Engine) Disconnect(t testing.TB, network, id string) {
	t.Helper()
	e.must(t, "network", "disconnect", network, id)
}

// Logs returns a container's output, for failure messages.
func (e *Engine) Logs(t testing.TB, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := e.Docker(ctx, "logs", id)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(out)
}
