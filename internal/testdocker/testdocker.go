// Package testdocker runs containers for tests against a real Docker engine, through the
// docker CLI (the engine SDK belongs to provider/docker alone).
//
// Everything it creates gets a name with the run's random suffix and the label
// wharf.test.run=<suffix>, and is removed by id when the test ends, pass or fail. Images
// are built FROM scratch around a static Go binary compiled on the spot, because tests may
// not pull from a registry.
//
// Tests that need Docker call Require: without an engine it fails the test, or skips it
// under -short.
package testdocker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RunLabel marks everything a test run creates, so leftovers of a killed run can be found.
const RunLabel = "org.wharfproxy.test.run"

// Engine runs docker commands for one test process.
type Engine struct {
	RunID string // random suffix of every name created
	seq   atomic.Int64
}

// Connect checks that the docker CLI exists and the engine answers.
func Connect(ctx context.Context) (*Engine, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("docker CLI not found: %w", err)
	}
	e := &Engine{RunID: randomID()}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := e.Docker(ctx, "version", "--format", "{{.Server.APIVersion}}"); err != nil {
		return nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	return e, nil
}

// Require returns an engine or ends the test. Under -short, tests that need Docker are
// skipped (they take seconds); otherwise Docker is a requirement, and its absence fails the
// test rather than letting it pass unseen.
func Require(t testing.TB) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker engine; skipped under -short")
	}
	e, err := Connect(context.Background())
	if err != nil {
		t.Fatalf("this test needs a Docker engine (run with -short to skip it): %v", err)
	}
	return e
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Name returns a name unique to this run: base-<run>-<n>.
func (e *Engine) Name(base string) string {
	return fmt.Sprintf("%s-%s-%d", base, e.RunID, e.seq.Add(1))
}

// Docker runs one docker command and returns its trimmed stdout; the error carries stderr.
func (e *Engine) Docker(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// must runs a docker command within the test's lifetime, failing the test on error.
func (e *Engine) must(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.Docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cleanup registers a removal that runs even when the test fails, and reports (without
// failing a passing test twice) when it does not work.
func (e *Engine) cleanup(t testing.TB, args ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := e.Docker(ctx, args...); err != nil && !strings.Contains(err.Error(), "No such") {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// ImageSpec describes a FROM scratch image around one Go main package.
type ImageSpec struct {
	Package     string   // import path of the main package, e.g. github.com/wharfproxy/wharf/internal/testbackend/cmd/testbackend
	Expose      []string // EXPOSE lines, e.g. "80/tcp"
	HealthCheck []string // HEALTHCHECK exec form arguments after the binary, e.g. {"-healthcheck"}; nil: none
}

// BuildImage compiles spec.Package statically and builds an image from it. It returns the
// image id; the caller removes it with RemoveImage (BuildImageT does so for a test).
func (e *Engine) BuildImage(ctx context.Context, spec ImageSpec) (string, error) {
	dir, err := os.MkdirTemp("", "wharf-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	build := exec.CommandContext(ctx, goTool(), "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "app"), spec.Package)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", spec.Package, err, out)
	}
	var df strings.Builder
	df.WriteString("FROM scratch\nCOPY app /app\n")
	for _, p := range spec.Expose {
		fmt.Fprintf(&df, "EXPOSE %s\n", p)
	}
	if spec.HealthCheck != nil {
		args := append([]string{"/app"}, spec.HealthCheck...)
		fmt.Fprintf(&df, "HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [%s]\n", quoteJSON(args))
	}
	df.WriteString("ENTRYPOINT [\"/app\"]\n")
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		return "", err
	}
	return e.Docker(ctx, "build", "-q", "--label", RunLabel+"="+e.RunID, "-t", "wharf-test-"+e.Name("img"), dir)
}

// BuildImageT builds an image that is removed when the test ends.
func (e *Engine) BuildImageT(t testing.TB, spec ImageSpec) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := e.BuildImage(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	e.cleanup(t, "image", "rm", "--force", id)
	return id
}

// RemoveImage removes an image by id.
func (e *Engine) RemoveImage(ctx context.Context, id string) error {
	_, err := e.Docker(ctx, "image", "rm", "--force", id)
	return err
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

func quoteJSON(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ",")
}

// sortedPairs renders a map as sorted key=value strings, so command lines are stable.
func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
