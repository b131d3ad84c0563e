package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A peer is one server under test: the backend alone (the floor), wharf, nginx or haproxy.
type peerKind string

const (
	kindBackend peerKind = "backend"
	kindWharf   peerKind = "wharf"
	kindNginx   peerKind = "nginx"
	kindHAProxy peerKind = "haproxy"
)

// peerSpec names a peer and, for wharf variants, the environment it runs with
// ("wharf-p1=GOMAXPROCS=1" runs wharf as peer "wharf-p1" with GOMAXPROCS=1). The variable
// binVar is not passed on: it names another wharf binary, so that two builds can be
// measured side by side ("wharf-new=WHARFBENCH_BIN=/tmp/wharf-new").
const binVar = "WHARFBENCH_BIN"

type peerSpec struct {
	name string
	kind peerKind
	env  []string
}

// parsePeer reads "backend", "wharf", "nginx", "haproxy" or "NAME=VAR=value[,VAR=value]"
// (a wharf variant).
func parsePeer(s string) (peerSpec, error) {
	name, env, variant := strings.Cut(s, "=")
	if !variant {
		switch k := peerKind(s); k {
		case kindBackend, kindWharf, kindNginx, kindHAProxy:
			return peerSpec{name: s, kind: k}, nil
		}
		return peerSpec{}, fmt.Errorf("peer %q: want backend, wharf, nginx, haproxy or NAME=VAR=value,... (a wharf variant)", s)
	}
	spec := peerSpec{name: name, kind: kindWharf}
	for _, kv := range strings.Split(env, ",") {
		if !strings.Contains(kv, "=") {
			return peerSpec{}, fmt.Errorf("peer %q: %q is not VAR=value", s, kv)
		}
		spec.env = append(spec.env, kv)
	}
	return spec, nil
}

// bench is what every scenario shares: the temp directory, the certificate, the binaries.
type bench struct {
	dir      string
	cert     certFiles
	wharfBin string
	self     string // this program, re-run as the backend
	progress io.Writer
}

// peer is a running server. Its processes are started in their own process group and
// stopped by that group's id.
type peer struct {
	spec  peerSpec
	http  string // host:port of plain HTTP/1.1
	https string // host:port of TLS 1.3 (http/1.1 and h2)
	cmd   *exec.Cmd
	done  chan struct{}
	out   *tail
	wharf *wharfLog // wharf's parsed log; nil for the others
}

func (p *peer) pid() int { return p.cmd.Process.Pid }

// stop ends the peer's process group: SIGTERM, then SIGKILL after 10 s.
func (p *peer) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the peer's main process has ended.
func (p *peer) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail keeps the last 64 KiB a process wrote, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if n := len(t.buf); n > 64<<10 {
		t.buf = append([]byte(nil), t.buf[n-64<<10:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// launch starts cmd in its own process group with its output kept in a tail.
func launch(spec peerSpec, cmd *exec.Cmd, stdout io.Writer) (*peer, error) {
	p := &peer{spec: spec, cmd: cmd, done: make(chan struct{}), out: &tail{}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if stdout == nil {
		stdout = p.out
	}
	cmd.Stdout = stdout
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	go func() {
		_ = cmd.Wait()
		// Pipes the harness reads from end with the process.
		for _, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
			if pw, ok := w.(*io.PipeWriter); ok {
				pw.Close()
			}
		}
		close(p.done)
	}()
	return p, nil
}

// startBackend runs the fast backend and reads the addresses it prints.
func (b *bench) startBackend() (*peer, error) {
	cmd := exec.Command(b.self)
	cmd.Env = append(os.Environ(), roleEnv+"=backend", roleCert+"="+b.cert.cert, roleKey+"="+b.cert.key)
	pr, pw := io.Pipe()
	p, err := launch(peerSpec{name: "backend", kind: kindBackend}, cmd, pw)
	if err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-lines:
		var http, https string
		if _, err := fmt.Sscanf(l, backendMsg+" http=%s https=%s", &http, &https); err != nil {
			p.stop()
			return nil, fmt.Errorf("backend: unexpected first line %q", l)
		}
		p.http, p.https = http, https
	case <-p.done:
		return nil, fmt.Errorf("backend exited: %s", p.out)
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("backend did not start within 10s")
	}
	return p, nil
}

// start runs one proxy peer in front of be and waits until it proxies.
func (b *bench) start(spec peerSpec, be *peer) (*peer, error) {
	var p *peer
	var err error
	switch spec.kind {
	case kindBackend:
		return be, nil
	case kindWharf:
		p, err = b.startWharf(spec, benchDynamic(be.http, b.cert))
	case kindNginx:
		p, err = b.startNginx(spec, be)
	case kindHAProxy:
		p, err = b.startHAProxy(spec, be)
	default:
		return nil, fmt.Errorf("unknown peer kind %q", spec.kind)
	}
	if err != nil {
		return nil, err
	}
	if err := waitServing(p); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// waitServing polls both ports until the peer answers 200 for benchHost.
func waitServing(p *peer) error {
	deadline := time.Now().Add(20 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own self-signed certificate
		DisableKeepAlives: true,
	}}
	for _, u := range []string{"http://" + p.http + "/", "https://" + p.https + "/"} {
		for {
			req, _ := http.NewRequest("GET", u, nil)
			req.Host = benchHost
			res, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
				err = fmt.Errorf("status %d", res.StatusCode)
			}
			if p.exited() || time.Now().After(deadline) {
				return fmt.Errorf("%s does not serve %s: %v; output:\n%s", p.spec.name, u, err, p.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// freePort returns a port of 127.0.0.1 that was free a moment ago, for the peers whose
// configuration must name a port (nginx, haproxy). startWithPorts retries on a collision.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startWithPorts picks two ports, writes a configuration with them and starts the peer, and
// tries again with new ports when one was taken meanwhile.
func (b *bench) startWithPorts(spec peerSpec, run func(dir, http, https string) *exec.Cmd) (*peer, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp(b.dir, spec.name+"-")
		if err != nil {
			return nil, err
		}
		_ = os.Chmod(dir, 0o755) // nginx's workers run as nobody
		h1, err1 := freePort()
		h2, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		p, err := launch(spec, run(dir, h1, h2), nil)
		if err != nil {
			return nil, err
		}
		p.http, p.https = h1, h2
		if err := waitListening(p); err != nil {
			p.stop()
			last = err
			if strings.Contains(p.out.String(), "in use") {
				continue
			}
			return nil, err
		}
		return p, nil
	}
	return nil, last
}

func waitListening(p *peer) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range []string{p.http, p.https} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if p.exited() || time.Now().After(deadline) {
				return fmt.Errorf("%s is not listening on %s: %v; output:\n%s", p.spec.name, a, err, p.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// nginx: two workers (worker_processes auto on two cores, like haproxy's threads and Go's
// GOMAXPROCS), upstream keep-alive, no access log, the X-Forwarded-* headers a proxy sets.
// keepalive_requests is raised on both sides so that, like the other peers, nginx does not
// close a client or upstream connection every 1,000 requests.
const nginxConf = `daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 20000;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path {{dir}}/body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  upstream backend {
    server {{backend}};
    keepalive 256;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
  }
  server {
    listen {{http}};
    listen {{https}} ssl http2;
    ssl_certificate {{cert}};
    ssl_certificate_key {{key}};
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`

func (b *bench) startNginx(spec peerSpec, be *peer) (*peer, error) {
	return b.startWithPorts(spec, func(dir, h1, h2 string) *exec.Cmd {
		conf := expand(nginxConf, map[string]string{"dir": dir, "backend": be.http, "http": h1, "https": h2,
			"cert": b.cert.cert, "key": b.cert.key})
		path := filepath.Join(dir, "nginx.conf")
		_ = os.WriteFile(path, []byte(conf), 0o644)
		return exec.Command("nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir+"/", "-c", path)
	})
}

// haproxy: its default threads (one per core), upstream connection reuse, no log, forwardfor.
const haproxyConf = `global
  maxconn 9000
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode http
  option http-keep-alive
  option forwardfor
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-request 10s
  timeout http-keep-alive 600s
frontend fe
  bind {{http}}
  bind {{https}} ssl crt {{combined}} alpn h2,http/1.1
  default_backend be
backend be
  http-reuse always
  server s1 {{backend}}
`

func (b *bench) startHAProxy(spec peerSpec, be *peer) (*peer, error) {
	return b.startWithPorts(spec, func(dir, h1, h2 string) *exec.Cmd {
		conf := expand(haproxyConf, map[string]string{"backend": be.http, "http": h1, "https": h2, "combined": b.cert.combined})
		path := filepath.Join(dir, "haproxy.cfg")
		_ = os.WriteFile(path, []byte(conf), 0o644)
		return exec.Command("haproxy", "-f", path, "-db")
	})
}

func expand(tmpl string, vars map[string]string) string {
	for k, v := range vars {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}

// wharfStatic: a plain and a TLS entrypoint on ports the kernel picks (read back from the
// log), the file provider, no API, no access log (wharf's default).
const wharfStatic = `entryPoints:
  web:
    address: "127.0.0.1:0"
  websecure:
    address: "127.0.0.1:0"
    http:
      tls: {}
providers:
  file:
    filename: %q
api: false
log:
  level: info
`

// benchDynamic is the one route every proxy serves, and the certificate, TLS 1.3 only.
func benchDynamic(backend string, cf certFiles) string {
	return fmt.Sprintf(`http:
  routers:
    bench:
      rule: Host(%[1]s)
      service: bench
  services:
    bench:
      loadBalancer:
        servers:
          - url: http://%[2]s
%[3]s`, "`"+benchHost+"`", backend, tlsDynamic(cf))
}

func tlsDynamic(cf certFiles) string {
	return fmt.Sprintf(`tls:
  certificates:
    - certFile: %[1]q
      keyFile: %[2]q
  options:
    default:
      minVersion: VersionTLS13
  stores:
    default:
      defaultCertificate:
        certFile: %[1]q
        keyFile: %[2]q
`, cf.cert, cf.key)
}

// startWharf runs wharf with the dynamic configuration given and waits for its entrypoints.
func (b *bench) startWharf(spec peerSpec, dynamicYAML string) (*peer, error) {
	dir, err := os.MkdirTemp(b.dir, spec.name+"-")
	if err != nil {
		return nil, err
	}
	dyn := filepath.Join(dir, "dynamic.yml")
	static := filepath.Join(dir, "wharf.yml")
	if err := os.WriteFile(dyn, []byte(dynamicYAML), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(static, []byte(fmt.Sprintf(wharfStatic, dyn)), 0o600); err != nil {
		return nil, err
	}
	bin, env := b.wharfBin, os.Environ()
	for _, kv := range spec.env {
		if v, ok := strings.CutPrefix(kv, binVar+"="); ok {
			bin = v // another build of wharf, to compare two builds side by side
			continue
		}
		env = append(env, kv)
	}
	cmd := exec.Command(bin, "run", "--config", static, "--log.format=json")
	cmd.Env = env
	wl := &wharfLog{dynamic: dyn}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	p, err := launch(spec, cmd, io.Discard)
	if err != nil {
		return nil, err
	}
	p.wharf = wl
	go wl.read(pr, p.out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for p.http == "" || p.https == "" {
		eps := wl.entryPoints()
		p.http, p.https = eps["web"], eps["websecure"]
		if p.exited() || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("%s did not start: log:\n%s", spec.name, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p, nil
}

// wharfLog follows wharf's JSON log: the addresses it bound and each applied configuration.
type wharfLog struct {
	dynamic string // the dynamic file it watches

	mu      sync.Mutex
	eps     map[string]string
	applied []applied
}

// applied is one "configuration applied" line.
type applied struct {
	at      time.Time // when the harness read it
	routers int
	took    time.Duration
}

func (l *wharfLog) read(r io.Reader, out io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = out.Write(append(bytes.Clone(line), '\n'))
		var m struct {
			Message    string  `json:"message"`
			EntryPoint string  `json:"entrypoint"`
			Address    string  `json:"address"`
			Routers    int     `json:"routers"`
			Took       float64 `json:"took"` // milliseconds
		}
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		l.mu.Lock()
		switch m.Message {
		case "entrypoint listening":
			if l.eps == nil {
				l.eps = map[string]string{}
			}
			l.eps[m.EntryPoint] = m.Address
		case "configuration applied":
			l.applied = append(l.applied, applied{at: time.Now(), routers: m.Routers, took: time.Duration(m.Took * float64(time.Millisecond))})
		}
		l.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (l *wharfLog) entryPoints() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.eps))
	for k, v := range l.eps {
		out[k] = v
	}
	return out
}

func (l *wharfLog) appliedSince(n int) []applied {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > len(l.applied) {
		return nil
	}
	return append([]applied(nil), l.applied[n:]...)
}

func (l *wharfLog) appliedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.applied)
}
