package testbackend

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// serve runs a backend named b1 for one test.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New("b1"))
	t.Cleanup(srv.Close)
	return srv
}

func TestBackendEcho(t *testing.T) {
	srv := serve(t)
	req, _ := http.NewRequest("GET", srv.URL+"/some/path?q=1", nil)
	req.Host = "app.test"
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Name != "b1" || e.Host != "app.test" || e.Path != "/some/path" || e.RawQuery != "q=1" || e.Headers.Get("X-Test") != "yes" {
		t.Fatalf("echo = %+v", e)
	}
}

func TestBackendHealthFlips(t *testing.T) {
	srv := serve(t)
	status := func() int {
		resp, err := http.Get(srv.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(path string) {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := status(); got != 200 {
		t.Fatalf("health = %d; want 200", got)
	}
	post("/health/fail")
	if got := status(); got != 503 {
		t.Fatalf("health after fail = %d; want 503", got)
	}
	post("/health/ok")
	if got := status(); got != 200 {
		t.Fatalf("health after ok = %d; want 200", got)
	}
}

func TestBackendWebsocketEcho(t *testing.T) {
	srv := serve(t)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, hello, err := c.ReadMessage(); err != nil || string(hello) != "b1" {
		t.Fatalf("greeting = %q, %v", hello, err)
	}
	c.WriteMessage(websocket.TextMessage, []byte("ping"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ping" {
		t.Fatalf("echo = %q, %v", msg, err)
	}
}

func TestBackendSse(t *testing.T) {
	srv := serve(t)
	resp, err := http.Get(srv.URL + "/sse?n=3&interval=1ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	if strings.Join(data, "|") != "b1 0|b1 1|b1 2" {
		t.Fatalf("events = %q", data)
	}
}
