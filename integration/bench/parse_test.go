package main

import (
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:8000/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  40.01ms   80.00%
    Req/Sec     8.10k   500.00     9.00k    70.00%
  Latency Distribution
     50%    2.95ms
     75%    3.50ms
     90%    4.20ms
     99%  812.00us
  161234 requests in 10.01s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  16107.29
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 161234-7 || r.errors != 7 || r.timeouts != 1 {
		t.Errorf("requests %d, errors %d, timeouts %d; want %d, 7, 1", r.requests, r.errors, r.timeouts, 161234-7)
	}
	if r.elapsed != 10010*time.Millisecond || r.p50 != 2950*time.Microsecond || r.p99 != 812*time.Microsecond {
		t.Errorf("elapsed %v p50 %v p99 %v; want 10.01s 2.95ms 812µs", r.elapsed, r.p50, r.p99)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("no error for output without a request count")
	}
}

const h2loadOutput = `finished in 10.00s, 7432.70 req/s, 1.23MB/s
requests: 74327 total, 74377 started, 74327 done, 74320 succeeded, 7 failed, 0 errored, 0 timeout
status codes: 74320 2xx, 0 3xx, 0 4xx, 7 5xx
traffic: 12.30MB (12897000) total, 1.00MB (1048576) headers (space savings 90.00%), 2.00MB (2097152) data
`

func TestParseH2load(t *testing.T) {
	r, err := parseH2load(h2loadOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 74320 || r.errors != 14 || r.elapsed != 10*time.Second {
		t.Errorf("requests %d errors %d elapsed %v; want 74320 14 10s", r.requests, r.errors, r.elapsed)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis must not shift the fields.
	stat := "4242 (my (proc) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 0 0\n"
	ppid, c, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if ppid != 17 || c.user != 2500*time.Millisecond || c.sys != 750*time.Millisecond {
		t.Errorf("ppid %d user %v sys %v; want 17 2.5s 750ms", ppid, c.user, c.sys)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 = %v; want 50ms", p)
	}
	if p := percentile(d, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v; want 99ms", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("p99 of nothing = %v; want 0", p)
	}
}

func TestParsePeer(t *testing.T) {
	p, err := parsePeer("wharf-p1=GOMAXPROCS=1,GOGC=200")
	if err != nil || p.name != "wharf-p1" || p.kind != kindWharf || len(p.env) != 2 || p.env[1] != "GOGC=200" {
		t.Errorf("parsePeer = %+v, %v", p, err)
	}
	if _, err := parsePeer("caddy"); err == nil {
		t.Error("no error for an unknown peer")
	}
}
