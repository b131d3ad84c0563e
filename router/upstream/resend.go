package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// RoundTrip is the transport of the server's proxy. It sends the request through the shared
// transport and, when the server belongs to a balancer:
//
//   - reports the outcome to the passive health check;
//   - when the connection could not be made (the request was not sent: not a byte of it left
//     wharf), sends the same request to another healthy server of the balancer, whatever its
//     method. The body is safe to send again: the transport never read it, and keepBody kept
//     the transport from closing it. The client sees one answer, from the server that took it;
//   - sets the sticky cookie when the answering server is not the one the client's cookie
//     named (a new client, or its server left the rotation).
func (s *Server) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.transport.RoundTrip(req)
	b := s.bal
	if b == nil {
		return resp, err
	}
	b.observe(s, req, resp, err)
	if err != nil {
		if b.canResend(req, err) {
			return b.resend(req, s, err)
		}
		return resp, err
	}
	b.stick(s, req, resp)
	return resp, nil
}

// canResend reports whether req may go to another server after err.
func (b *Balancer) canResend(req *http.Request, err error) bool {
	return len(b.servers) > 1 && IsNotSent(err) && req.Context().Err() == nil && bodyUnread(req)
}

// maxResend bounds the servers tried after the first, so that a service whose servers all
// refuse answers 502 quickly.
const maxResend = 3

// resend tries other healthy servers, in the strategy's order, until one takes the request
// or the failure is no longer "not sent".
func (b *Balancer) resend(req *http.Request, first *Server, err error) (*http.Response, error) {
	tried := newTriedSet(len(b.servers))
	prev := first
	for range min(len(b.servers)-1, maxResend) {
		s, probe := b.claimNext(req, time.Now().UnixNano(), tried, prev)
		if s == nil {
			break
		}
		prev = s
		b.cfg.Log.Debug().Err(err).Str("server", first.URL.Redacted()).Str("next", s.URL.Redacted()).
			Msg("connection to the server failed before the request was sent; sending it to another server")
		out := retarget(req, first, s)
		s.state.inflight.Add(1)
		resp, err2 := s.transport.RoundTrip(out)
		b.observe(s, out, resp, err2)
		if probe {
			s.state.endProbe() // the outcome is known: observe recorded it
		}
		if err2 == nil {
			resp.Body = countBody(resp.Body, s.state)
			b.stick(s, req, resp)
			return resp, nil
		}
		s.state.inflight.Add(-1)
		err = err2
		if !b.canResend(out, err2) {
			break
		}
	}
	return nil, err
}

// retarget is req aimed at server to instead of from: the same request with the scheme, host
// and base path of the other server. Headers and body are shared; the transport reads them
// and does not change them.
func retarget(req *http.Request, from, to *Server) *http.Request {
	out := req.WithContext(req.Context()) // a shallow copy: RoundTrip must not modify req
	u := *req.URL
	u.Scheme, u.Host = to.target.Scheme, to.target.Host
	if from.basePath != to.basePath {
		u.Path = to.basePath + strings.TrimPrefix(u.Path, from.basePath)
		if u.RawPath != "" {
			u.RawPath = to.basePath + strings.TrimPrefix(u.RawPath, from.basePath)
		}
	}
	out.URL = &u
	return out
}

// observe feeds the passive health check. A request the client gave up on says nothing about
// the server. Without a passive check, only a refused connection counts (see RefusedCoolDown).
func (b *Balancer) observe(s *Server, req *http.Request, resp *http.Response, err error) {
	pc := b.cfg.Passive
	if err == nil && (pc == nil || !pc.Status.Has(resp.StatusCode)) {
		if s.state.probation.Load() && s.state.succeeded(time.Now().UnixNano()) {
			b.cfg.Log.Info().Str("service", b.cfg.Service).Str("server", s.URL.Redacted()).Msg("server is back in rotation: it answered after its cool-down")
		}
		return
	}
	var reason string
	switch {
	case err == nil:
		reason = "answered " + strconv.Itoa(resp.StatusCode)
	case req.Context().Err() != nil:
		return
	case pc == nil && !IsNotSent(err):
		return
	default:
		reason = err.Error()
	}
	if pc == nil {
		pc = &refusedPassive
	}
	out, again := s.state.failed(time.Now().UnixNano(), pc, reason)
	if !out {
		return
	}
	ev := b.cfg.Log.Warn()
	if again {
		ev = b.cfg.Log.Debug() // still failing after its cool-down: said once already
	}
	ev.Str("service", b.cfg.Service).Str("server", s.URL.Redacted()).Str("reason", reason).
		Dur("coolDown", pc.Window).Msg("server taken out of rotation: its requests failed")
}

// RefusedCoolDown is how long a server whose connection could not be made stays out of
// rotation when its service has no passive health check: nobody listens there (a replica
// stopping, a container gone), and every request sent its way would cost a failed dial before
// going to another server. After it, the server is on probation like after any cool-down.
const RefusedCoolDown = time.Second

var refusedPassive = PassiveConfig{Window: RefusedCoolDown, MaxFailures: 1}

// IsNotSent reports whether a forwarding error happened before any byte of the request was
// sent: the connection to the backend could not be made (refused, unreachable, DNS, dial
// timeout). Such a request can be sent again, to any server, whatever its method.
func IsNotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Attempt tells a middleware what the forwarder did with one request, for decisions such as
// retrying. The forwarder fills it only when something went wrong, so the success path pays
// nothing for it.
type Attempt struct {
	notSent, noServer bool
	err               error
}

type attemptKey struct{}

// WithAttempt returns a context that the forwarder reports into; pass it on the request the
// middleware sends down, then read the Attempt once the handler returns.
func WithAttempt(ctx context.Context) (context.Context, *Attempt) {
	a := &Attempt{}
	return context.WithValue(ctx, attemptKey{}, a), a
}

func attemptFrom(ctx context.Context) *Attempt {
	a, _ := ctx.Value(attemptKey{}).(*Attempt)
	return a
}

// NotSent reports that the request failed before a byte of it reached any server (after the
// balancer already tried the other healthy servers): trying again is safe for any method.
func (a *Attempt) NotSent() bool { return a.notSent }

// NoServer reports that the service had no healthy server and answered 503 itself; trying
// again at once is unlikely to help.
func (a *Attempt) NoServer() bool { return a.noServer }

// Err is the forwarding error behind a 502 or 504 the forwarder wrote, or nil.
func (a *Attempt) Err() error { return a.err }

// keepBody wraps an outbound request body: Close does nothing (the proxy closes the inbound
// body when the request ends), and it notes whether any byte was read.
type keepBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (k *keepBody) Read(p []byte) (int, error) {
	k.read.Store(true)
	return k.rc.Read(p)
}

func (k *keepBody) Close() error { return nil }

// bodyUnread reports whether the request's body can be sent again: it has none, or not a
// byte of it was read.
func bodyUnread(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	k, ok := req.Body.(*keepBody)
	return ok && !k.read.Load()
}

// countBody decrements a server's in-flight count when a response that a resend took to it
// ends. (On the usual path, Balancer.ServeHTTP counts.) An upgraded connection's body is also
// its writer, and keeps being one.
func countBody(body io.ReadCloser, st *ServerState) io.ReadCloser {
	c := &countedBody{ReadCloser: body, st: st}
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &countedRWC{countedBody: c, w: rwc}
	}
	return c
}

type countedBody struct {
	io.ReadCloser
	st   *ServerState
	done atomic.Bool
}

func (c *countedBody) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.st.inflight.Add(-1)
	}
	return c.ReadCloser.Close()
}

type countedRWC struct {
	*countedBody
	w io.Writer
}

func (c *countedRWC) Write(p []byte) (int, error) { return c.w.Write(p) }
