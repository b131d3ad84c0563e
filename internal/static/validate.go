package static

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// validate checks values that decoded but do not make sense, and normalizes a few Traefik
// spellings (addresses with "/tcp", "staging" as a CA, an acme.json storage path). It runs
// after applyDefaults, so it sees exactly what wharf will use.
func (c *Config) validate(root *dynamic.Node) dynamic.Errors {
	ck := &checker{root: root}
	c.checkEntryPoints(ck)
	c.checkProviders(ck)
	c.checkResolvers(ck)
	c.checkAPI(ck)
	c.checkPing(ck)
	c.checkMetrics(ck)
	c.checkLogs(ck)
	ck.durations(c)
	c.warnings = append(c.warnings, ck.warns...)
	return ck.errs
}

func (c *Config) entryPointNames() []string { return sortedStrings(c.EntryPoints) }

func (c *Config) checkEntryPoints(ck *checker) {
	byAddr := map[string]string{}
	for _, name := range c.entryPointNames() {
		ep, p := c.EntryPoints[name], []string{"entryPoints", name}
		ck.checkName(p, name)
		if ep == nil {
			ck.fail(p, "an entrypoint needs options: give it an address")
			continue
		}
		if addr, ok := ck.address(at(p, "address"), ep.Address); ok {
			ep.Address = addr
			if other, dup := byAddr[addr]; dup && !strings.HasSuffix(addr, ":0") {
				ck.failValue(at(p, "address"), addr, "entrypoint %q listens on the same address: give each entrypoint its own", other)
			}
			byAddr[addr] = name
		}
		ck.trusted(at(p, "forwardedHeaders", "trustedIPs"), ep.ForwardedHeaders.TrustedIPs)
		if ep.ProxyProtocol != nil {
			ck.trusted(at(p, "proxyProtocol", "trustedIPs"), ep.ProxyProtocol.TrustedIPs)
		}
		ck.nonNegative(at(p, "transport", "keepAliveMaxRequests"), int64(ep.Transport.KeepAliveMaxRequests))
		ck.nonNegative(at(p, "http", "maxHeaderBytes"), int64(ep.HTTP.MaxHeaderBytes))
		ck.nonNegative(at(p, "http2", "maxConcurrentStreams"), int64(ep.HTTP2.MaxConcurrentStreams))
		if ep.HTTP3 != nil {
			ck.fail(at(p, "http3"), "HTTP/3 is not supported yet: remove this option (HTTP/1.1 and HTTP/2 are served)")
		}
		c.checkRedirect(ck, name, ep)
		c.checkEntryPointTLS(ck, p, ep.HTTP.TLS)
		for i, m := range ep.HTTP.Middlewares {
			if strings.TrimSpace(m) == "" {
				ck.fail(at(p, "http", fmt.Sprintf("middlewares[%d]", i)), "empty middleware name")
			}
		}
	}
}

func (c *Config) checkRedirect(ck *checker, name string, ep *EntryPoint) {
	if ep.HTTP.Redirections == nil || ep.HTTP.Redirections.EntryPoint == nil {
		return
	}
	r, p := ep.HTTP.Redirections.EntryPoint, []string{"entryPoints", name, "http", "redirections", "entryPoint"}
	switch to := strings.TrimSpace(r.To); {
	case to == "":
		ck.fail(at(p, "to"), `required: name the entrypoint to redirect to (e.g. websecure), or a port like ":443"`)
	case strings.HasPrefix(to, ":"):
		if n, err := strconv.Atoi(to[1:]); err != nil || n < 1 || n > 65535 {
			ck.failValue(at(p, "to"), r.To, `not a port: write it like ":443"`)
		}
	default:
		target, ok := lookup(c.EntryPoints, to)
		switch {
		case !ok:
			ck.failValue(at(p, "to"), r.To, "no entrypoint has this name%s; name one of %s, or a port like \":443\"",
				dynamic.DidYouMean(to, c.entryPointNames()), strings.Join(c.entryPointNames(), ", "))
		case target == name:
			ck.failValue(at(p, "to"), r.To, "an entrypoint cannot redirect to itself")
		default:
			r.To = target
		}
	}
	ck.oneOf(at(p, "scheme"), &r.Scheme, "http", "https")
}

func (c *Config) checkEntryPointTLS(ck *checker, p []string, t *EntryPointTLS) {
	if t == nil {
		return
	}
	p = at(p, "http", "tls")
	if t.CertResolver != "" {
		if name, ok := lookup(c.CertificatesResolvers, t.CertResolver); ok {
			t.CertResolver = name
		} else {
			ck.failValue(at(p, "certResolver"), t.CertResolver, "no certificatesResolvers entry has this name%s", dynamic.DidYouMean(t.CertResolver, sortedStrings(c.CertificatesResolvers)))
		}
	}
	for i, d := range t.Domains {
		if strings.TrimSpace(d.Main) == "" {
			ck.fail(at(p, fmt.Sprintf("domains[%d]", i), "main"), "required: the certificate's main domain name")
		}
	}
}

func (c *Config) checkAPI(ck *checker) {
	if c.API == nil {
		return
	}
	p := []string{"api"}
	if addr, ok := ck.address(at(p, "address"), c.API.Address); ok {
		c.API.Address = addr
		for _, name := range c.entryPointNames() {
			if ep := c.EntryPoints[name]; ep != nil && ep.Address == addr && !strings.HasSuffix(addr, ":0") {
				ck.failValue(at(p, "address"), addr, "entrypoint %q listens on the same address: give the API its own (or api: false)", name)
			}
		}
	}
	if c.API.Insecure && c.API.Address == DefaultInsecureAPIAddress {
		ck.warn(at(p, "insecure"), "true", "the API and dashboard listen on %s on every address; set api.address to bind them elsewhere", DefaultInsecureAPIAddress)
	}
	if c.API.BasicAuth != nil {
		for i, u := range c.API.BasicAuth.Users {
			if name, hash, ok := strings.Cut(u, ":"); !ok || name == "" || hash == "" {
				ck.fail(at(p, "basicAuth", fmt.Sprintf("users[%d]", i)), "not name:hash (an htpasswd line, e.g. from `htpasswd -nB name`)")
			}
		}
	}
}

// apiListener resolves the entrypoint of ping and metrics: "" and Traefik's "traefik"
// (unless an entrypoint has that name) mean the API's listener.
func (c *Config) apiListener(ck *checker, path []string, ep *string) {
	if *ep == "" || (strings.EqualFold(*ep, "traefik") && !hasKey(c.EntryPoints, "traefik")) {
		*ep = ""
		if c.API == nil {
			ck.fail(path, "served on the API's listener, which is off (api: false): set %s to an entrypoint", strings.Join(path, "."))
		}
		return
	}
	if name, ok := lookup(c.EntryPoints, *ep); ok {
		*ep = name
		return
	}
	ck.failValue(path, *ep, "no entrypoint has this name%s", dynamic.DidYouMean(*ep, c.entryPointNames()))
}

func hasKey[V any](m map[string]V, name string) bool {
	_, ok := lookup(m, name)
	return ok
}

func (c *Config) checkPing(ck *checker) {
	if c.Ping == nil {
		return
	}
	c.apiListener(ck, []string{"ping", "entryPoint"}, &c.Ping.EntryPoint)
	if s := c.Ping.TerminatingStatusCode; s < 100 || s > 599 {
		ck.failValue([]string{"ping", "terminatingStatusCode"}, strconv.Itoa(s), "not an HTTP status code (100-599)")
	}
}

func (c *Config) checkMetrics(ck *checker) {
	if c.Metrics == nil || c.Metrics.Prometheus == nil {
		return
	}
	pr, p := c.Metrics.Prometheus, []string{"metrics", "prometheus"}
	switch {
	case pr.Address != "" && pr.EntryPoint != "":
		ck.fail(at(p, "address"), "give either address or entryPoint, not both")
	case pr.Address != "":
		if addr, ok := ck.address(at(p, "address"), pr.Address); ok {
			pr.Address = addr
		}
	default:
		c.apiListener(ck, at(p, "entryPoint"), &pr.EntryPoint)
	}
	for i, b := range pr.Buckets {
		if b <= 0 || (i > 0 && b <= pr.Buckets[i-1]) {
			ck.failValue(at(p, fmt.Sprintf("buckets[%d]", i)), strconv.FormatFloat(b, 'g', -1, 64), "buckets must be positive and increasing")
		}
	}
}

func (c *Config) checkLogs(ck *checker) {
	ck.oneOf([]string{"log", "level"}, &c.Log.Level, "trace", "debug", "info", "warn", "error", "fatal", "panic")
	if strings.EqualFold(c.Log.Format, "common") {
		c.Log.Format = "console" // Traefik's name for its text format
	}
	if c.Log.Format != "" {
		ck.oneOf([]string{"log", "format"}, &c.Log.Format, "json", "console")
	}
	a := c.AccessLog
	if a == nil {
		return
	}
	p := []string{"accessLog"}
	ck.oneOf(at(p, "format"), &a.Format, "common", "json")
	ck.nonNegative(at(p, "bufferingSize"), a.BufferingSize)
	for i, s := range a.Filters.StatusCodes {
		if !validStatusRange(s) {
			ck.failValue(at(p, "filters", fmt.Sprintf("statusCodes[%d]", i)), s, `not a status code or range: write "404" or "500-599"`)
		}
	}
	modes := []string{"keep", "drop", "redact"}
	ck.oneOf(at(p, "fields", "defaultMode"), &a.Fields.DefaultMode, modes...)
	ck.oneOf(at(p, "fields", "headers", "defaultMode"), &a.Fields.Headers.DefaultMode, modes...)
	for _, m := range []struct {
		path  []string
		names map[string]string
	}{{at(p, "fields", "names"), a.Fields.Names}, {at(p, "fields", "headers", "names"), a.Fields.Headers.Names}} {
		for _, k := range sortedStrings(m.names) {
			v := m.names[k]
			ck.oneOf(at(m.path, k), &v, modes...)
			m.names[k] = v
		}
	}
}

func validStatusRange(s string) bool {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 100 || a > 599 {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.Atoi(hi)
	return err == nil && b >= a && b <= 599
}

func (c *Config) checkProviders(ck *checker) {
	if f := c.Providers.File; f != nil {
		p := []string{"providers", "file"}
		if (f.Filename == "") == (f.Directory == "") {
			ck.fail(p, "give exactly one of filename and directory")
		}
	}
	d := c.Providers.Docker
	if d == nil {
		return
	}
	p := []string{"providers", "docker"}
	if u, err := url.Parse(d.Endpoint); err != nil || !dockerSchemes[u.Scheme] {
		ck.failValue(at(p, "endpoint"), d.Endpoint, "not a Docker endpoint: write unix:///var/run/docker.sock, tcp://host:2376 or https://host:2376")
	}
	if t := d.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
		ck.fail(at(p, "tls"), "give both cert and key, or neither")
	}
	if lp := d.LabelPrefix; strings.HasSuffix(lp, ".") || strings.ContainsAny(lp, " \t=") {
		ck.failValue(at(p, "labelPrefix"), lp, `write the prefix without a final dot or spaces, e.g. "wharf" or "traefik"`)
	}
	if d.UseBindPortIP {
		// Refused rather than accepted and ignored: a user who sets it expects wharf to
		// dial the published host port, and it would not.
		ck.fail(at(p, "useBindPortIP"), "not supported yet: wharf reaches containers on their network address; remove it, or run wharf on the containers' network")
	}
}

var dockerSchemes = map[string]bool{"unix": true, "tcp": true, "http": true, "https": true, "npipe": true}

func (c *Config) checkResolvers(ck *checker) {
	for _, name := range sortedStrings(c.CertificatesResolvers) {
		r, p := c.CertificatesResolvers[name], []string{"certificatesResolvers", name}
		ck.checkName(p, name)
		if r == nil || r.ACME == nil {
			ck.fail(p, "set acme: ACME is the only kind of resolver wharf supports")
			continue
		}
		c.checkACME(ck, at(p, "acme"), r.ACME)
	}
}

func (c *Config) checkACME(ck *checker, p []string, a *ACME) {
	if e := strings.TrimSpace(a.Email); e == "" {
		ck.fail(at(p, "email"), "required: the ACME account's contact address (without it the ACME client would wait for one on stdin)")
	} else if !strings.Contains(e, "@") {
		ck.failValue(at(p, "email"), a.Email, "not an email address")
	}
	switch strings.ToLower(a.CAServer) {
	case "production":
		a.CAServer = LetsEncryptProduction
	case "staging":
		a.CAServer = LetsEncryptStaging
	default:
		if u, err := url.Parse(a.CAServer); err != nil || u.Scheme != "https" || u.Host == "" {
			ck.failValue(at(p, "caServer"), a.CAServer, `not an https:// ACME directory URL (or "production", "staging")`)
		}
	}
	if strings.HasSuffix(strings.ToLower(a.Storage), ".json") {
		dir := filepath.Dir(a.Storage)
		ck.warn(at(p, "storage"), a.Storage, "wharf keeps certificates in a directory, not in one JSON file: using %q (existing Traefik certificates are not imported)", dir)
		a.Storage = dir
	}
	a.KeyType = strings.ToUpper(strings.TrimSpace(a.KeyType))
	switch a.KeyType {
	case "EC256", "EC384", "RSA2048", "RSA4096", "RSA8192":
	default:
		ck.failValue(at(p, "keyType"), a.KeyType, "must be one of EC256, EC384, RSA2048, RSA4096, RSA8192")
	}
	ck.nonNegative(at(p, "certificatesDuration"), int64(a.CertificatesDuration))
	if a.EAB != nil && (a.EAB.Kid == "" || a.EAB.HmacEncoded == "") {
		ck.fail(at(p, "eab"), "give both kid and hmacEncoded")
	}
	c.checkChallenges(ck, p, a)
}

func (c *Config) checkChallenges(ck *checker, p []string, a *ACME) {
	if a.HTTPChallenge == nil && a.TLSChallenge == nil && a.DNSChallenge == nil {
		ck.fail(p, "choose how to prove control of the names: httpChallenge, tlsChallenge or dnsChallenge")
	}
	if h := a.HTTPChallenge; h != nil {
		hp := at(p, "httpChallenge", "entryPoint")
		if h.EntryPoint == "" {
			ck.fail(hp, "required: the entrypoint that listens on port 80 as the CA sees it")
		} else if name, ok := lookup(c.EntryPoints, h.EntryPoint); ok {
			h.EntryPoint = name
		} else {
			ck.failValue(hp, h.EntryPoint, "no entrypoint has this name%s", dynamic.DidYouMean(h.EntryPoint, c.entryPointNames()))
		}
	}
	if d := a.DNSChallenge; d != nil {
		if d.Provider == "" {
			ck.fail(at(p, "dnsChallenge", "provider"), "required: the DNS provider's name")
		}
		for i, r := range d.Resolvers {
			if _, err := parseAddress(r); err != nil || strings.HasPrefix(r, ":") {
				ck.failValue(at(p, "dnsChallenge", fmt.Sprintf("resolvers[%d]", i)), r, `not host:port: write "1.1.1.1:53"`)
			}
		}
	}
}
