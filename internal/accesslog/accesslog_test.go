package accesslog

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func entry() *Entry {
	return &Entry{
		Start:      time.Date(2026, 11, 23, 18, 14, 36, 0, time.UTC),
		Duration:   12500 * time.Microsecond,
		EntryPoint: "web",
		ClientAddr: "192.0.2.7:51234",
		Method:     "GET",
		Host:       "blog.example.com",
		Path:       "/posts/1",
		RawQuery:   "page=2&access_token=abc123&API_KEY=k&monkey=banana",
		Proto:      "HTTP/1.1",
		Status:     200,
		Bytes:      512,
		Router:     "blog@docker",
		Service:    "blog@docker",
		Upstream:   "172.17.0.3:80",
		UserAgent:  "curl/8.5",
		Header: http.Header{"Authorization": {"Bearer sekrit"}, "Cookie": {"session=sekrit"},
			"X-Api-Key": {"sekrit"}, "Accept": {"*/*"}},
	}
}

func newLogger(t *testing.T, c Config) (*Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	c.Output = &buf
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l, &buf
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not one JSON object: %q: %v", line, err)
	}
	return m
}

func TestJSONLineHasTheFields(t *testing.T) {
	l, buf := newLogger(t, Config{})
	l.Log(entry())
	m := decode(t, buf.String())
	want := map[string]any{
		"time": "2026-11-23T18:14:36Z", "ClientAddr": "192.0.2.7:51234", "ClientHost": "192.0.2.7",
		"RequestMethod": "GET", "RequestHost": "blog.example.com", "RequestProtocol": "HTTP/1.1",
		"RequestPath":      "/posts/1?page=2&access_token=REDACTED&API_KEY=REDACTED&monkey=banana",
		"DownstreamStatus": 200.0, "DownstreamContentSize": 512.0, "Duration": 12500000.0,
		"RouterName": "blog@docker", "ServiceName": "blog@docker", "ServiceAddr": "172.17.0.3:80",
		"entryPointName": "web", "UserAgent": "curl/8.5",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v; want %#v", k, m[k], v)
		}
	}
	if id, _ := m["RequestID"].(string); id == "" {
		t.Error("no RequestID was generated")
	}
	if strings.Contains(buf.String(), "sekrit") || strings.Contains(buf.String(), "abc123") {
		t.Errorf("a secret was logged: %s", buf)
	}
}

func TestRequestIDIsKeptOrGeneratedUnique(t *testing.T) {
	l, buf := newLogger(t, Config{})
	e := entry()
	e.RequestID = "req-42"
	l.Log(e)
	l.Log(entry())
	l.Log(entry())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if id := decode(t, lines[0])["RequestID"]; id != "req-42" {
		t.Errorf("RequestID = %v; want the request's own", id)
	}
	if a, b := decode(t, lines[1])["RequestID"], decode(t, lines[2])["RequestID"]; a == b {
		t.Errorf("generated ids repeat: %v", a)
	}
}

func TestCredentialsAreNeverLogged(t *testing.T) {
	l, buf := newLogger(t, Config{HeadersDefaultMode: "keep",
		Headers: map[string]string{"authorization": "keep", "cookie": "keep"}})
	l.Log(entry())
	m := decode(t, buf.String())
	for _, h := range []string{"request_Authorization", "request_Cookie", "request_X-Api-Key"} {
		if m[h] != "REDACTED" {
			t.Errorf("%s = %v; want REDACTED whatever the configuration says", h, m[h])
		}
	}
	if m["request_Accept"] != "*/*" {
		t.Errorf("request_Accept = %v; want kept", m["request_Accept"])
	}
}

func TestHeadersAreDroppedUnlessNamed(t *testing.T) {
	l, buf := newLogger(t, Config{Headers: map[string]string{"Accept": "keep"}})
	l.Log(entry())
	m := decode(t, buf.String())
	if m["request_Accept"] != "*/*" {
		t.Errorf("request_Accept = %v; want kept (named)", m["request_Accept"])
	}
	for k := range m {
		if strings.HasPrefix(k, "request_") && k != "request_Accept" {
			t.Errorf("header %s logged; headers not named are dropped", k)
		}
	}
}

func TestFieldModes(t *testing.T) {
	l, buf := newLogger(t, Config{Fields: map[string]string{"ClientAddr": "drop", "clienthost": "redact",
		"StartLocal": "drop"}}) // a Traefik field wharf does not write is accepted
	l.Log(entry())
	m := decode(t, buf.String())
	if _, ok := m["ClientAddr"]; ok {
		t.Error("ClientAddr written; it is dropped")
	}
	if m["ClientHost"] != "REDACTED" {
		t.Errorf("ClientHost = %v; want REDACTED", m["ClientHost"])
	}
	_, err := New(Config{Fields: map[string]string{"RouterNmae": "drop"}})
	if err == nil || !strings.Contains(err.Error(), `did you mean "RouterName"`) {
		t.Errorf("unknown field error = %v; want a suggestion", err)
	}
}

func TestCommonLogFormat(t *testing.T) {
	l, buf := newLogger(t, Config{Format: "common"})
	e := entry()
	e.Start = time.Date(2026, 11, 23, 18, 14, 36, 0, time.FixedZone("", 3600))
	e.RequestID = "req-42"
	l.Log(e)
	want := `192.0.2.7 - - [23/Nov/2026:18:14:36 +0100] "GET /posts/1?page=2&access_token=REDACTED&API_KEY=REDACTED&monkey=banana HTTP/1.1" 200 512 "-" "curl/8.5" req-42 "blog@docker" "172.17.0.3:80" 12ms` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestCommonLogFormatEscapesWhatClientsSend(t *testing.T) {
	l, buf := newLogger(t, Config{Format: "common"})
	e := entry()
	e.UserAgent = "evil\" 200 0\nforged line \\"
	e.Path = "/a\"b"
	l.Log(e)
	out := buf.String()
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("one request became several lines: %q", out)
	}
	if !strings.Contains(out, `"evil\" 200 0\x0aforged line \\"`) || !strings.Contains(out, `/a\"b?`) {
		t.Errorf("not escaped: %q", out)
	}
}

func TestFilters(t *testing.T) {
	l, buf := newLogger(t, Config{StatusCodes: []string{"404", "500-599"}, MinDuration: time.Second})
	for _, tc := range []struct {
		status int
		d      time.Duration
		keep   bool
	}{{200, time.Millisecond, false}, {404, time.Millisecond, true}, {503, 0, true}, {200, 2 * time.Second, true}} {
		buf.Reset()
		e := entry()
		e.Status, e.Duration = tc.status, tc.d
		l.Log(e)
		if got := buf.Len() > 0; got != tc.keep {
			t.Errorf("status %d in %v: logged = %v; want %v", tc.status, tc.d, got, tc.keep)
		}
	}
	if _, err := New(Config{StatusCodes: []string{"600"}}); err == nil {
		t.Error("status 600 accepted")
	}
}

func TestLogDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	for _, format := range []string{"json", "common"} {
		l, buf := newLogger(t, Config{Format: format})
		e := entry()
		e.Header = nil
		e.RawQuery = "page=2"
		l.Log(e)
		if n := testing.AllocsPerRun(200, func() { buf.Reset(); l.Log(e) }); n > 0 {
			t.Errorf("%s: allocs per line = %v; want 0", format, n)
		}
	}
}

func TestReopenFollowsLogrotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Config{FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(entry())
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Log(entry()) // still the old file, as logrotate expects until the signal
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(entry())
	countLines := func(p string) int {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	if old, cur := countLines(path+".1"), countLines(path); old != 2 || cur != 1 {
		t.Errorf("rotated file has %d lines, new file %d; want 2 and 1", old, cur)
	}
}

func TestBufferingWritesInBatches(t *testing.T) {
	var buf safeBuffer
	l, err := New(Config{Output: &buf, BufferingSize: 3, flushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(entry())
	l.Log(entry())
	if n := buf.lines(); n != 0 {
		t.Fatalf("%d lines written before the buffer is full", n)
	}
	l.Log(entry())
	if n := buf.lines(); n != 3 {
		t.Fatalf("%d lines written when the buffer filled; want 3", n)
	}
	l.Log(entry())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := buf.lines(); n != 4 {
		t.Fatalf("%d lines after Close; want 4", n)
	}
}

func TestSecretNames(t *testing.T) {
	for name, want := range map[string]bool{"token": true, "access_token": true, "X-Auth-Token": true, "password": true,
		"api%5Fkey": true, "key": true, "sig": true, "code": true, "monkey": false, "page": false, "q": false} {
		if got := secretParam(name); got != want {
			t.Errorf("secretParam(%q) = %v; want %v", name, got, want)
		}
	}
}
