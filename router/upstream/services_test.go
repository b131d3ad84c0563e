package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// named answers with its name, and counts.
type named struct {
	name string
	hits atomic.Int64
	down atomic.Bool
}

func (n *named) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.hits.Add(1)
	io.WriteString(w, n.name)
}

func (n *named) Healthy() bool { return !n.down.Load() }

func TestWeightedSplit(t *testing.T) {
	stable, canary, off := &named{name: "stable"}, &named{name: "canary"}, &named{name: "off"}
	w, err := NewWeighted("app", []WeightedTarget{{"stable", stable, 9}, {"canary", canary, 1}, {"off", off, 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ {
		w.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if stable.hits.Load() != 2700 || canary.hits.Load() != 300 || off.hits.Load() != 0 {
		t.Errorf("split %d/%d/%d; want exactly 2700/300/0", stable.hits.Load(), canary.hits.Load(), off.hits.Load())
	}
	canary.down.Store(true)
	for i := 0; i < 100; i++ {
		w.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if canary.hits.Load() != 300 {
		t.Error("a child with no healthy server still got traffic")
	}
	stable.down.Store(true)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || w.Healthy() {
		t.Errorf("no healthy child: %d healthy=%v; want 503, false", rec.Code, w.Healthy())
	}
}

func TestWeightedSticky(t *testing.T) {
	a, b := &named{name: "a"}, &named{name: "b"}
	w, err := NewWeighted("app", []WeightedTarget{{"a@file", a, 1}, {"b@file", b, 1}}, &CookieConfig{Name: "v"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := rec.Result().Cookies()
	if len(cookie) != 1 || rec.Body.String() != "a" {
		t.Fatalf("first answer %q with cookies %v", rec.Body, cookie)
	}
	for i := 0; i < 10; i++ {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie[0])
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, r)
		if rec.Body.String() != "a" || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("pinned request %d went to %q (cookies %v); want a, no new cookie", i, rec.Body, rec.Result().Cookies())
		}
	}
	a.down.Store(true)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie[0])
	rec = httptest.NewRecorder()
	w.ServeHTTP(rec, r)
	if c := rec.Result().Cookies(); rec.Body.String() != "b" || len(c) != 1 || c[0].Value == cookie[0].Value {
		t.Errorf("pinned to a down service: went to %q, cookies %v; want b and a cookie naming it", rec.Body, c)
	}
}

func TestFailover(t *testing.T) {
	main, fallback := &named{name: "main"}, &named{name: "fallback"}
	f := NewFailover(main, fallback, StatusSet{})
	get := func(h http.Handler) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Body.String()
	}
	if got := get(f); got != "main" {
		t.Errorf("got %q; want main", got)
	}
	main.down.Store(true)
	if got := get(f); got != "fallback" || !f.Healthy() {
		t.Errorf("main down: got %q; want fallback", got)
	}
	main.down.Store(false)
	if got := get(f); got != "main" {
		t.Errorf("main back: got %q; want main", got)
	}
}

func TestFailoverOnStatus(t *testing.T) {
	var mainSaw atomic.Value
	main := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mainSaw.Store(string(b))
		w.Header().Set("X-From", "main")
		if r.URL.Path == "/ok" {
			io.WriteString(w, "main ok")
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "main failed")
	})
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "fallback got %s", b)
	})
	status, _ := ParseStatusSet([]string{"502-504"})
	f := NewFailover(main, fallback, status)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/fail", strings.NewReader("payload")))
	if rec.Code != 200 || rec.Body.String() != "fallback got payload" || rec.Header().Get("X-From") != "" {
		t.Errorf("got %d %q X-From=%q; want only the fallback's answer, with the body", rec.Code, rec.Body, rec.Header().Get("X-From"))
	}
	if mainSaw.Load() != "payload" {
		t.Errorf("main saw %q", mainSaw.Load())
	}
	rec = httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("GET", "/ok", nil))
	if rec.Body.String() != "main ok" || rec.Header().Get("X-From") != "main" {
		t.Errorf("got %q X-From=%q; want main's answer with its headers", rec.Body, rec.Header().Get("X-From"))
	}
}

func TestMirroring(t *testing.T) {
	mainHits := atomic.Int64{}
	main := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mainHits.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "main %s", b)
	})
	var got, bodies atomic.Int64
	release := make(chan struct{})
	mirror := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) == "data" {
			bodies.Add(1)
		}
		<-release // a mirror slower than anything
		got.Add(1)
	})
	half := &MirrorTarget{Name: "m", Handler: mirror, Percent: 50}
	m := NewMirroring(main, []*MirrorTarget{half}, MirroringConfig{MirrorBody: true, MaxBodySize: 8})
	start := time.Now()
	for i := 0; i < 100; i++ {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("data")))
		if rec.Body.String() != "main data" {
			t.Fatalf("main answer %q", rec.Body)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 requests took %v with a blocked mirror; the main path must not wait", d)
	}
	close(release)
	waitFor(t, 2*time.Second, "50 mirror copies", func() bool { return got.Load() == 50 })
	if bodies.Load() != 50 {
		t.Errorf("%d mirror copies had the body; want 50", bodies.Load())
	}
	// A body above maxBodySize reaches the main service whole, and is not mirrored.
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("a body longer than eight bytes")))
	m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader("a body longer than eight bytes")))
	if rec.Body.String() != "main a body longer than eight bytes" {
		t.Errorf("main got %q", rec.Body)
	}
	if mirrored, dropped := m.Counts(); mirrored != 50 || dropped != 1 {
		t.Errorf("mirrored %d, dropped %d; want 50 and 1", mirrored, dropped)
	}
}

// TestMirrorsAreBounded: copies beyond MaxInFlight are dropped rather than queued.
func TestMirrorsAreBounded(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	mirror := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block })
	m := NewMirroring(&named{name: "main"}, []*MirrorTarget{{Name: "m", Handler: mirror, Percent: 100}}, MirroringConfig{MaxInFlight: 4})
	for i := 0; i < 10; i++ {
		m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(context.Background()))
	}
	if mirrored, dropped := m.Counts(); mirrored != 4 || dropped != 6 {
		t.Errorf("mirrored %d, dropped %d; want 4 and 6", mirrored, dropped)
	}
}
