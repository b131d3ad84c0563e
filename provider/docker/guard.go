package docker

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// ErrRefused is returned for any request to the engine that wharf does not need. Access to
// the Docker socket is root on the host; a bug or a compromised dependency in wharf must not
// be able to start, exec into, or delete anything, so the allow-list is enforced in the
// transport, beneath the SDK, where no code path can go around it.
var ErrRefused = errors.New("docker: request refused: wharf only reads from the engine")

// readOnlyPaths are the endpoints wharf reads, after the optional /vX.Y version prefix.
// Swarm's services and tasks will join when the Swarm mode does.
var readOnlyPaths = regexp.MustCompile(`^(?:/v[0-9]+\.[0-9]+)?/(?:` +
	`_ping|version|events|containers/json|containers/[A-Za-z0-9][A-Za-z0-9_.-]*/json|` +
	`networks|networks/[A-Za-z0-9][A-Za-z0-9_.-]*)$`)

// readOnlyTransport refuses, before any I/O, every request that is not a body-less GET or
// HEAD on readOnlyPaths.
type readOnlyTransport struct {
	next     http.RoundTripper
	basePath string // the path of the endpoint URL (tcp://host:2375/prefix), stripped first
}

func (t *readOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := allowed(req, t.basePath); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// allowed checks one request against the allow-list.
func allowed(req *http.Request, basePath string) error {
	refuse := func(why string) error {
		return fmt.Errorf("%w: %s %s: %s", ErrRefused, req.Method, req.URL.Path, why)
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return refuse("only GET and HEAD are allowed")
	}
	if req.ContentLength > 0 || req.Body != nil && req.Body != http.NoBody {
		return refuse("a read has no body")
	}
	if req.URL.RawPath != "" || strings.Contains(req.URL.Path, "..") {
		return refuse("escaped or relative paths are not allowed")
	}
	path := req.URL.Path
	if basePath != "" && basePath != "/" {
		var ok bool
		if path, ok = strings.CutPrefix(path, strings.TrimSuffix(basePath, "/")); !ok {
			return refuse("outside the endpoint's base path")
		}
	}
	if !readOnlyPaths.MatchString(path) {
		return refuse("not an endpoint wharf reads")
	}
	return nil
}
