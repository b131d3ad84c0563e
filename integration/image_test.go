package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfproxy/wharf/internal/testdocker"
)

// The image under test is built the way a user builds it: `make image`, which compiles the
// static binary, stages it with the CA bundle in a build context and runs `docker build` on
// the Dockerfile at the root of the repository.

// imageStamp is what `make image` stamps into the binary and the image's labels.
type imageStamp struct{ Version, Commit, Date string }

// buildWharfImage runs `make image` into a unique tag and removes the image when the test
// ends. It returns the tag.
func buildWharfImage(t *testing.T, e *testdocker.Engine, st imageStamp) string {
	t.Helper()
	tag := "wharf-test-" + e.Name("image") + ":test"
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"-C", root, "--no-print-directory", "image", "IMAGE=" + tag, "IMAGE_CONTEXT=" + t.TempDir()}
	if st.Version != "" {
		args = append(args, "VERSION="+st.Version, "COMMIT="+st.Commit, "DATE="+st.Date)
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, "make", args...).CombinedOutput()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := e.Docker(ctx, "image", "rm", "--force", tag); err != nil && !strings.Contains(err.Error(), "No such image") {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image built %s in %v", tag, time.Since(start).Round(time.Millisecond))
	return tag
}

// imageConfig is the part of `docker image inspect` the test checks.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Labels       map[string]string
		Entrypoint   []string
		WorkingDir   string
		Healthcheck  struct{ Test []string }
	}
}

func inspectImage(t *testing.T, e *testdocker.Engine, ref string) imageConfig {
	t.Helper()
	out, err := e.Docker(context.Background(), "image", "inspect", ref)
	if err != nil {
		t.Fatal(err)
	}
	var list []imageConfig
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("docker image inspect %s: %v", ref, err)
	}
	return list[0]
}

func TestImage(t *testing.T) {
	e := testdocker.Require(t)
	st := imageStamp{Version: "v0.0.0-test." + e.RunID, Commit: "c0ffee" + e.RunID[:4], Date: "2026-01-02T03:04:05Z"}
	tag := buildWharfImage(t, e, st)

	t.Run("metadata", func(t *testing.T) {
		img := inspectImage(t, e, tag)
		t.Logf("image size: %.1f MB", float64(img.Size)/1e6)
		c := img.Config
		if c.User != "65532:65532" {
			t.Errorf("user %q; want 65532:65532 (non-root)", c.User)
		}
		for _, p := range []string{"80/tcp", "443/tcp"} {
			if _, ok := c.ExposedPorts[p]; !ok {
				t.Errorf("port %s is not exposed; exposed: %v", p, c.ExposedPorts)
			}
		}
		if _, ok := c.Volumes["/data"]; !ok || len(c.Volumes) != 1 {
			t.Errorf("volumes %v; want /data only", c.Volumes)
		}
		if want := []string{"CMD", "/usr/local/bin/wharf", "healthcheck"}; strings.Join(c.Healthcheck.Test, " ") != strings.Join(want, " ") {
			t.Errorf("health check %q; want %q", c.Healthcheck.Test, want)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  st.Version,
			"org.opencontainers.image.revision": st.Commit,
			"org.opencontainers.image.created":  st.Date,
			"org.opencontainers.image.source":   "https://github.com/wharfproxy/wharf",
			"org.opencontainers.image.title":    "wharf",
		} {
			if got := c.Labels[k]; got != want {
				t.Errorf("label %s = %q; want %q", k, got, want)
			}
		}
		if img.Size > 60<<20 {
			t.Errorf("image is %d bytes; a static binary FROM scratch should stay well under 60 MiB", img.Size)
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := e.Docker(context.Background(), "run", "--rm", "--label", testdocker.RunLabel+"="+e.RunID, tag, "version")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("wharf %s\ncommit: %s\nbuilt:  %s", st.Version, st.Commit, st.Date)
		if out != want {
			t.Fatalf("wharf version printed\n%s\nwant\n%s", out, want)
		}
	})

	t.Run("healthy_non_root_with_tzdata", func(t *testing.T) {
		// The image's own health check command, run often so the test takes a second.
		c := e.Run(t, testdocker.RunSpec{Base: "wharf-image", Image: tag, HealthInterval: 300 * time.Millisecond,
			Env: map[string]string{"TZ": "Asia/Tokyo"}})
		e.WaitHealth(t, c.ID, "healthy", 20*time.Second)
		uids := processUIDs(t, e, c.ID)
		for _, uid := range uids {
			if uid != "65532" {
				t.Errorf("processes run as uid %v; want 65532 only", uids)
				break
			}
		}
		if len(uids) == 0 {
			t.Error("docker top shows no process")
		}
		// Scratch has no /usr/share/zoneinfo: a time zone works only because the binary
		// embeds the database (-tags timetzdata). The log's timestamps show the offset.
		if logs := containerLogs(t, c.ID); !strings.Contains(logs, "+09:00") {
			t.Errorf("with TZ=Asia/Tokyo the log has no +09:00 timestamp:\n%s", logs)
		}
		hdr, _ := copyOut(t, e, c.ID, "/data")
		if hdr.Uid != 65532 || hdr.Gid != 65532 || !hdr.FileInfo().IsDir() {
			t.Errorf("/data is uid %d gid %d dir %v; want a directory owned by 65532:65532", hdr.Uid, hdr.Gid, hdr.FileInfo().IsDir())
		}
		_, bundle := copyOut(t, e, c.ID, "/etc/ssl/certs/ca-certificates.crt")
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(bundle) {
			t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificate")
		}
	})

	t.Run("unhealthy_when_nothing_answers_ping", func(t *testing.T) {
		// The health check is not vacuous: with the API off, nothing serves /ping.
		c := e.Run(t, testdocker.RunSpec{Base: "wharf-image", Image: tag, HealthInterval: 300 * time.Millisecond,
			Env: map[string]string{"WHARF_API": "false"}, Args: []string{"--health-start-period=1ms"}})
		e.WaitHealth(t, c.ID, "unhealthy", 20*time.Second)
	})
}

// processUIDs lists the uid of every process in a container, as the host sees them.
func processUIDs(t *testing.T, e *testdocker.Engine, id string) []string {
	t.Helper()
	out, err := e.Docker(context.Background(), "top", id, "-o", "pid,uid")
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) == 2 {
			uids = append(uids, f[1])
		}
	}
	return uids
}

// containerLogs is a container's output; wharf logs to stderr, which e.Logs leaves out.
func containerLogs(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("docker", "logs", id).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs %s: %v", id[:12], err)
	}
	return string(out)
}

// copyOut reads one path out of a container (docker cp to a tar stream): its header, and its
// content when it is a file.
func copyOut(t *testing.T, e *testdocker.Engine, id, path string) (*tar.Header, []byte) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("docker", "cp", id+":"+path, "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker cp %s:%s: %v: %s", id[:12], path, err, stderr.String())
	}
	tr := tar.NewReader(&stdout)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("docker cp %s: %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return hdr, b
}

// socketGID is the group of the engine's socket, which wharf's unprivileged user joins
// (the examples' DOCKER_GID).
func socketGID(t *testing.T) string {
	t.Helper()
	fi, err := os.Stat(testdocker.EngineSocket())
	if err != nil {
		t.Fatalf("the examples mount the Docker socket: %v", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("%s: no owner information", testdocker.EngineSocket())
	}
	return fmt.Sprint(st.Gid)
}
