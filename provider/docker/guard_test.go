package docker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
)

type countingTransport struct{ calls atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
}

func TestReadOnlyTransport(t *testing.T) {
	cases := []struct {
		method, path string
		body         bool
		ok           bool
	}{
		{"HEAD", "/_ping", false, true},
		{"GET", "/_ping", false, true},
		{"GET", "/v1.41/version", false, true},
		{"GET", "/v1.51/containers/json", false, true},
		{"GET", "/v1.41/containers/3f2a1b9c0d1e/json", false, true},
		{"GET", "/v1.41/containers/blog-web_1.x/json", false, true},
		{"GET", "/v1.41/events", false, true},
		{"GET", "/v1.41/networks", false, true},
		{"GET", "/v1.41/networks/front", false, true},
		{"POST", "/v1.41/containers/create", false, false},
		{"POST", "/v1.41/containers/abc/start", false, false},
		{"POST", "/v1.41/containers/abc/exec", false, false},
		{"DELETE", "/v1.41/containers/abc", false, false},
		{"PUT", "/v1.41/containers/abc/archive", false, false},
		{"GET", "/v1.41/containers/abc/archive", false, false},
		{"GET", "/v1.41/containers/abc/logs", false, false},
		{"GET", "/v1.41/containers/abc/export", false, false},
		{"GET", "/v1.41/images/json", false, false},
		{"GET", "/v1.41/secrets", false, false},
		{"GET", "/v1.41/info", false, false},
		{"GET", "/v1.41/containers/../../images/json", false, false},
		{"GET", "/v1.41/containers/json/../../x", false, false},
		{"GET", "/v1.41/events", true, false},
		{"POST", "/v1.41/networks/create", false, false},
		{"CONNECT", "/v1.41/_ping", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			next := &countingTransport{}
			tr := &readOnlyTransport{next: next}
			req := httptest.NewRequest(tc.method, "http://docker"+tc.path, nil)
			req.RequestURI = ""
			if tc.body {
				req.Body = http.NoBody
				req.ContentLength = 3
			}
			_, err := tr.RoundTrip(req)
			if tc.ok {
				if err != nil || next.calls.Load() != 1 {
					t.Fatalf("err = %v, calls = %d; want allowed", err, next.calls.Load())
				}
				return
			}
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v; want ErrRefused", err)
			}
			if next.calls.Load() != 0 {
				t.Fatalf("refused request reached the transport")
			}
		})
	}
}

func TestReadOnlyTransportBasePath(t *testing.T) {
	tr := &readOnlyTransport{next: &countingTransport{}, basePath: "/docker/"}
	ok := httptest.NewRequest("GET", "http://h/docker/v1.41/containers/json", nil)
	if _, err := tr.RoundTrip(ok); err != nil {
		t.Fatalf("under the base path: %v", err)
	}
	outside := httptest.NewRequest("GET", "http://h/v1.41/containers/json", nil)
	if _, err := tr.RoundTrip(outside); !errors.Is(err, ErrRefused) {
		t.Fatalf("outside the base path: err = %v; want ErrRefused", err)
	}
}

// TestGuardBelowSDK drives the real SDK client, built the way the provider builds it, at a
// fake engine: reads go through, and every write the SDK offers is refused before a single
// byte reaches the engine.
func TestGuardBelowSDK(t *testing.T) {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/containers/json") {
			w.Write([]byte("[]"))
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	e, err := newSDKEngine(Config{Endpoint: "tcp://" + strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if v, err := e.ping(ctx); err != nil || v != "1.41" {
		t.Fatalf("ping = %q, %v; want negotiated 1.41", v, err)
	}
	if _, _, err := e.Containers(ctx, func(*Container) bool { return true }, nil); err != nil {
		t.Fatalf("list: %v", err)
	}
	before := seen.Load()
	cli := e.cli
	writes := map[string]func() error{
		"create": func() error {
			_, err := cli.ContainerCreate(ctx, &container.Config{Image: "x"}, nil, nil, nil, "x")
			return err
		},
		"start":   func() error { return cli.ContainerStart(ctx, "abc", container.StartOptions{}) },
		"remove":  func() error { return cli.ContainerRemove(ctx, "abc", container.RemoveOptions{Force: true}) },
		"kill":    func() error { return cli.ContainerKill(ctx, "abc", "KILL") },
		"network": func() error { return cli.NetworkConnect(ctx, "n", "abc", &network.EndpointSettings{}) },
		"images": func() error {
			_, err := cli.ImageList(ctx, image.ListOptions{})
			return err
		},
		"exec": func() error {
			_, err := cli.ContainerExecCreate(ctx, "abc", container.ExecOptions{Cmd: []string{"sh"}})
			return err
		},
	}
	for name, call := range writes {
		if err := call(); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err = %v; want ErrRefused", name, err)
		}
	}
	if got := seen.Load(); got != before {
		t.Fatalf("the engine saw %d refused requests", got-before)
	}
}
