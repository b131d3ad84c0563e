package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Wharf is wharf with one TLS router for every host (its default certificate) in front
// of nginx.
func h2Wharf(t *testing.T) (*Wharf, *nginx) {
	t.Helper()
	ng := startNginx(t)
	w := startSecWharf(t, "", fmt.Sprintf(`
http:
  routers:
    all:
      rule: PathPrefix(`+"`/`"+`)
      service: nginx
      tls: {}
  services:
%s`, backendYAML("nginx", "http://"+ng.Addr)))
	return w, ng
}

// h2specKnownFailures are the h2spec cases Go's own HTTP/2 server (net/http's bundled
// x/net/http2, which wharf does not fork) fails, with the reason. A case that starts
// failing and is not listed here fails the test; one listed that passes is reported so the
// list can shrink. See docs/security.md.
var h2specKnownFailures = map[string]string{
	"http2/6.5.3: Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE": "net/http hangs up on a SETTINGS " +
		"frame that repeats a setting (settings_big_or_dups in h2_bundle.go, a hardening against SETTINGS " +
		"floods); RFC 9113 6.5.3 says to apply repeated values in order",
	"http2/8.1.2.2: Sends a HEADERS frame that contains the connection-specific header field": "net/http " +
		"answers the malformed request 400 and ends the stream instead of resetting it; RFC 9113 8.1.1 lets a " +
		"server send a response first. The request never reaches wharf's handlers or a backend",
	`http2/8.1.2.2: Sends a HEADERS frame that contains the TE header field with any value other than "trailers"`: "" +
		"as above: a 400 answer from net/http instead of RST_STREAM; never forwarded",
}

// TestH2Spec runs h2spec (every case of RFC 7540 and HPACK, strict ones included) against
// a TLS entrypoint.
func TestH2Spec(t *testing.T) {
	bin := secTool(t, "h2spec")
	w, _ := h2Wharf(t)
	_, port, _ := net.SplitHostPort(w.Addr("web"))
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", port, "-t", "-k", "-S", "-o", "2", "-j", report)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("h2spec did not finish in 90s:\n%s", tail(out, 3000))
	}
	failed, passed, err2 := readJUnit(report)
	if err2 != nil {
		t.Fatalf("h2spec: %v (%v)\n%s", err2, err, tail(out, 3000))
	}
	t.Logf("h2spec: %d passed, %d failed (%d known, from Go's server)", passed, len(failed), len(h2specKnownFailures))
	var unexpected []string
	for name, msg := range failed {
		if _, ok := h2specKnownFailures[name]; !ok {
			unexpected = append(unexpected, name+": "+msg)
		}
	}
	sort.Strings(unexpected)
	for name := range h2specKnownFailures {
		if _, ok := failed[name]; !ok {
			t.Logf("listed as a known failure but passed (remove it from the list): %s", name)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("h2spec failures not on the known list:\n  %s", strings.Join(unexpected, "\n  "))
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// readJUnit returns the failed cases (name -> message) and the number that passed.
func readJUnit(path string) (map[string]string, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"classname,attr"`
				Package string `xml:"package,attr"`
				Failure *struct {
					Text string `xml:",chardata"`
				} `xml:"failure"`
				Error *struct {
					Text string `xml:",chardata"`
				} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, 0, err
	}
	failed, passed := map[string]string{}, 0
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			name := c.Package + ": " + c.Name
			switch {
			case c.Failure != nil:
				failed[name] = strings.TrimSpace(c.Failure.Text)
			case c.Error != nil:
				failed[name] = strings.TrimSpace(c.Error.Text)
			case c.Skipped != nil:
			default:
				passed++
			}
		}
	}
	if passed+len(failed) == 0 {
		return nil, 0, errors.New("the report lists no test case")
	}
	return failed, passed, nil
}

// h2Conn is a raw HTTP/2 client connection for attacks: frames are written as the attacker
// wants, and a reader goroutine drains what the server sends and notes when it closes.
type h2Conn struct {
	c      net.Conn
	bw     *bufio.Writer
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	closed chan struct{}
	goaway atomic.Value // http2.ErrCode of a GOAWAY, when one came
}

func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ServerName: "attack.test"})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q; want h2", p)
	}
	h := &h2Conn{c: c, bw: bufio.NewWriterSize(c, 64<<10), closed: make(chan struct{})}
	h.fr = http2.NewFramer(h.bw, c)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.hbuf)
	t.Cleanup(func() { c.Close() })
	io.WriteString(h.bw, http2.ClientPreface)
	h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	h.bw.Flush()
	go h.readLoop()
	return h
}

func (h *h2Conn) readLoop() {
	defer close(h.closed)
	rfr := http2.NewFramer(io.Discard, h.c)
	for {
		f, err := rfr.ReadFrame()
		if err != nil {
			return
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			h.goaway.Store(ga.ErrCode)
		}
	}
}

func (h *h2Conn) headerBlock(extra ...string) []byte {
	h.hbuf.Reset()
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "attack.test"}, {":path", "/"}} {
		h.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return append([]byte(nil), h.hbuf.Bytes()...)
}

func (h *h2Conn) isClosed() bool {
	select {
	case <-h.closed:
		return true
	default:
		return false
	}
}

// bystander sends requests on its own connection while an attack runs and counts them.
type bystander struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	done       sync.WaitGroup
}

func startBystander(addr string) *bystander {
	b := &bystander{stop: make(chan struct{})}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		defer tr.CloseIdleConnections()
		for i := 0; i < 2000; i++ {
			select {
			case <-b.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			res, err := c.Get("https://" + addr + "/bystander")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode != 200 {
				b.failed.Add(1)
				b.firstErr.CompareAndSwap(nil, fmt.Sprintf("%v %v", err, res))
				continue
			}
			b.ok.Add(1)
		}
	}()
	return b
}

func (b *bystander) finish(t *testing.T) {
	t.Helper()
	close(b.stop)
	b.done.Wait()
	t.Logf("bystander: %d ok, %d failed", b.ok.Load(), b.failed.Load())
	if b.failed.Load() > 0 {
		t.Errorf("%d of the bystander's requests failed during the attack; first: %v", b.failed.Load(), b.firstErr.Load())
	}
	if b.ok.Load() < 5 {
		t.Errorf("the bystander got only %d answers during the attack", b.ok.Load())
	}
}

// attackResult says how an attacking connection ended.
type attackResult struct {
	closedAfter time.Duration // 0: still open at the end
	frames      int
	maxRSS      int
}

// runAttack runs step (one burst of frames) until wharf closes the connection, the frame
// budget is spent or 15s pass, while sampling wharf's resident memory.
func runAttack(t *testing.T, w *Wharf, h *h2Conn, maxFrames int, step func(i int) (int, error)) attackResult {
	t.Helper()
	var res attackResult
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	pid := w.cmd.Process.Pid
	for res.frames < maxFrames && time.Now().Before(deadline) && !h.isClosed() {
		n, err := step(res.frames)
		res.frames += n
		if err == nil {
			err = h.bw.Flush()
		}
		if rss := rssKiB(pid); rss > res.maxRSS {
			res.maxRSS = rss
		}
		if err != nil {
			break // the server closed the connection under us
		}
	}
	select {
	case <-h.closed:
		res.closedAfter = time.Since(start)
	case <-time.After(max(time.Until(deadline), 2*time.Second)):
	}
	return res
}

// TestHTTP2RapidReset opens and immediately cancels streams as fast as one connection can
// (CVE-2023-44487), reconnecting whenever wharf hangs up, for three seconds. wharf must
// close every attacking connection quickly, keep its memory bounded, and serve another
// client meanwhile.
func TestHTTP2RapidReset(t *testing.T) {
	w, _ := h2Wharf(t)
	addr := w.Addr("web")
	base := rssKiB(w.cmd.Process.Pid)
	by := startBystander(addr)
	maxRSS, conns, streams, slowest := base, 0, 0, time.Duration(0)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && conns < 200; conns++ {
		h := dialH2(t, addr)
		block := h.headerBlock()
		res := runAttack(t, w, h, 500_000, func(i int) (int, error) {
			for j := 0; j < 100; j++ {
				id := uint32(2*(i+j) + 1)
				if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
					return j, err
				}
				if err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
					return j, err
				}
			}
			return 100, nil
		})
		h.c.Close()
		streams += res.frames
		maxRSS, slowest = max(maxRSS, res.maxRSS), max(slowest, res.closedAfter)
		if res.closedAfter == 0 || res.closedAfter > 5*time.Second {
			t.Fatalf("attacking connection %d: still open %v after it started, with %d streams reset (closed after %v)",
				conns+1, 5*time.Second, res.frames, res.closedAfter)
		}
	}
	by.finish(t)
	t.Logf("rapid reset: %d connections, each closed by wharf (the slowest after %v); %d streams written; RSS %d KiB -> max %d KiB",
		conns, slowest.Round(time.Millisecond), streams, base, maxRSS)
	if maxRSS > base+150<<10 {
		t.Errorf("resident memory grew from %d KiB to %d KiB", base, maxRSS)
	}
}

// TestHTTP2ContinuationFlood sends one HEADERS frame without END_HEADERS and then
// CONTINUATION frames that never end (CVE-2023-45288). wharf must close the connection
// once the header block is larger than it accepts, without buffering it all.
func TestHTTP2ContinuationFlood(t *testing.T) {
	w, _ := h2Wharf(t)
	addr := w.Addr("web")
	base := rssKiB(w.cmd.Process.Pid)
	by := startBystander(addr)
	h := dialH2(t, addr)
	filler := h.headerBlock("x-filler", strings.Repeat("a", 4000))
	first := h.headerBlock()
	res := runAttack(t, w, h, 200_000, func(i int) (int, error) {
		if i == 0 {
			if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: false}); err != nil {
				return 0, err
			}
		}
		for j := 0; j < 50; j++ {
			if err := h.fr.WriteContinuation(1, false, filler); err != nil {
				return j, err
			}
		}
		return 50, nil
	})
	by.finish(t)
	t.Logf("CONTINUATION flood: %d frames (~%d KiB), connection closed after %v (GOAWAY %v), RSS %d KiB -> max %d KiB",
		res.frames, res.frames*len(filler)>>10, res.closedAfter, h.goaway.Load(), base, res.maxRSS)
	if res.closedAfter == 0 || res.closedAfter > 10*time.Second {
		t.Errorf("the flooding connection was not closed within 10s (closed after %v, %d frames)", res.closedAfter, res.frames)
	}
	if res.maxRSS > base+150<<10 {
		t.Errorf("resident memory grew from %d KiB to %d KiB", base, res.maxRSS)
	}
}
