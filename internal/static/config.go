// Package static is wharf's static configuration: how wharf itself is set up (listeners,
// providers, certificate resolvers, the API, logs), as opposed to the dynamic configuration
// (routers, services) that providers produce while wharf runs.
//
// Key names are Traefik's static names, so a traefik.yml that uses only supported features
// starts wharf unchanged. Keys are case-insensitive in every source. Values are layered:
// built-in defaults < the YAML file < WHARF_* environment variables < command-line flags.
// Every value keeps the place it was written, so an error names wharf.yml:12:5, the
// environment variable or the flag that set it.
//
// After Load returns without error, every default has been filled in: pointers to bool
// options are never nil, and optional sections are nil exactly when they are off.
package static

import (
	"net/netip"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Config is the whole static configuration.
type Config struct {
	// Global holds Traefik's global options. They are accepted so a traefik.yml loads, and
	// ignored: wharf never phones home. Default: nil.
	Global *Global

	// EntryPoints are the listeners, by name. Default, only when none is configured:
	// one entrypoint "http" on ":80" (Traefik's default).
	EntryPoints map[string]*EntryPoint

	// Providers are the sources of dynamic configuration. Default: none enabled.
	Providers Providers

	// CertificatesResolvers obtain certificates for routers that name them. Default: none.
	CertificatesResolvers map[string]*CertResolver

	// API serves the API and the dashboard. `api: false` turns it off; absent means on with
	// its defaults (bound to 127.0.0.1, see API.Address).
	API *API `wharf:"api"`

	// Ping answers health checks on GET /ping. Default: nil (off).
	Ping *Ping

	// Metrics exposes metrics. Default: nil (off).
	Metrics *Metrics

	// Log is wharf's own log.
	Log Log

	// AccessLog logs one line per request. Default: nil (off).
	AccessLog *AccessLog

	// Server holds wharf-specific process options.
	Server Server

	file     string         // the file that was read, "" if none
	warnings dynamic.Errors // problems that did not stop loading
}

// ConfigFile is the configuration file that was read, or "" when none was.
func (c *Config) ConfigFile() string { return c.file }

// Warnings are problems that did not stop loading (a Traefik option wharf reads
// differently, for instance). The caller logs them.
func (c *Config) Warnings() dynamic.Errors { return c.warnings }

// Global is accepted for Traefik compatibility and ignored.
type Global struct {
	CheckNewVersion    bool // ignored; default false
	SendAnonymousUsage bool // ignored; default false
}

// EntryPoint is one listener.
type EntryPoint struct {
	// Address is host:port to listen on: ":80", "127.0.0.1:8080", "[::1]:443". Required.
	// A Traefik "/tcp" suffix is accepted and removed; "/udp" is refused.
	Address string

	// Transport holds the connection timeouts and limits.
	Transport Transport

	// ForwardedHeaders says whose X-Forwarded-*, Forwarded and X-Real-Ip headers are kept.
	// Default: nobody's (they are removed on arrival).
	ForwardedHeaders ForwardedHeaders

	// ProxyProtocol, when set, reads the PROXY protocol header from trusted peers.
	// Default: nil (off).
	ProxyProtocol *ProxyProtocol

	// HTTP holds the HTTP options of this entrypoint.
	HTTP HTTP `wharf:"http"`

	// HTTP2 holds the HTTP/2 limits.
	HTTP2 HTTP2 `wharf:"http2"`

	// HTTP3 is not supported yet; setting it is an error that says so, rather than a
	// listener silently without HTTP/3. Default: nil.
	HTTP3 *dynamic.Node `wharf:"http3"`

	// AsDefault puts this entrypoint in the set used by routers that name no entrypoint.
	// When no entrypoint sets it, routers without entrypoints use all of them.
	// Default: false.
	AsDefault bool
}

// Transport holds an entrypoint's timeouts and connection limits.
type Transport struct {
	// RespondingTimeouts bound slow clients; each has its own default.
	RespondingTimeouts RespondingTimeouts
	// LifeCycle governs shutdown; each option has its own default.
	LifeCycle LifeCycle

	// KeepAliveMaxRequests closes a keep-alive connection after this many requests.
	// Default: 0 (no limit).
	KeepAliveMaxRequests int

	// KeepAliveMaxTime closes a keep-alive connection after this long.
	// Default: 0 (no limit).
	KeepAliveMaxTime time.Duration
}

// RespondingTimeouts bound how long a client may take. Zero means the default: wharf never
// runs an edge listener without these deadlines (slowloris).
type RespondingTimeouts struct {
	// ReadTimeout bounds reading a whole request, body included; lifted after a WebSocket
	// upgrade. Default: 60s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Default: 0 (none: responses may stream).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its next request.
	// Default: 180s.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading request headers (wharf-specific). Default: 10s.
	ReadHeaderTimeout time.Duration
}

// LifeCycle governs shutdown.
type LifeCycle struct {
	// RequestAcceptGraceTimeout keeps accepting requests this long after SIGTERM, so a load
	// balancer in front notices the health check failing first. Default: 0.
	RequestAcceptGraceTimeout time.Duration
	// GraceTimeOut is how long in-flight requests may finish after the listener stops
	// accepting. Default: 10s.
	GraceTimeOut time.Duration
}

// ForwardedHeaders trusts forwarded headers from some peers.
type ForwardedHeaders struct {
	// TrustedIPs are IPs or CIDRs ("10.0.0.0/8", "192.0.2.7") whose forwarded headers are
	// kept. Default: none.
	TrustedIPs []string `wharf:"trustedIPs"`
	// Insecure trusts forwarded headers from every peer. Default: false.
	Insecure bool
}

// TrustedPrefixes returns TrustedIPs parsed (single IPs as /32 or /128). Load has already
// validated them, so errors cannot happen on a loaded Config; bad entries are skipped.
func (f ForwardedHeaders) TrustedPrefixes() []netip.Prefix { return parsePrefixes(f.TrustedIPs) }

// ProxyProtocol reads the PROXY protocol header (v1 or v2) before HTTP.
type ProxyProtocol struct {
	// TrustedIPs are IPs or CIDRs whose PROXY header is believed. Default: none.
	TrustedIPs []string `wharf:"trustedIPs"`
	// Insecure believes the PROXY header from every peer. Default: false.
	Insecure bool
}

// TrustedPrefixes returns TrustedIPs parsed; see ForwardedHeaders.TrustedPrefixes.
func (p ProxyProtocol) TrustedPrefixes() []netip.Prefix { return parsePrefixes(p.TrustedIPs) }

// HTTP holds an entrypoint's HTTP options.
type HTTP struct {
	// Redirections redirect every request on this entrypoint to another. Default: nil.
	Redirections *Redirections
	// Middlewares run for every router on this entrypoint, before the router's own
	// ("auth@file"). Default: none.
	Middlewares []string
	// TLS makes every router on this entrypoint use TLS with these settings. Default: nil.
	TLS *EntryPointTLS `wharf:"tls"`
	// MaxHeaderBytes caps the request line and headers. Default: 65536 (64 KiB).
	MaxHeaderBytes int
	// EncodeQuerySemicolons keeps semicolons in queries by encoding them as %3B instead of
	// dropping them. Default: false.
	EncodeQuerySemicolons bool
}

// Redirections holds the entrypoint redirect.
type Redirections struct {
	// EntryPoint redirects to another entrypoint. Default: nil (no redirect).
	EntryPoint *RedirectEntryPoint
}

// RedirectEntryPoint redirects to another entrypoint, typically http -> https.
type RedirectEntryPoint struct {
	// To is the name of an existing entrypoint, or a port written ":443". Required.
	To string
	// Scheme is the scheme of the new URL. Default: "https".
	Scheme string
	// Permanent answers 308 instead of 307. Default: true.
	Permanent *bool
	// Priority of the redirect among the routers on this entrypoint.
	// Default: 2147483646 (Traefik's MaxInt32-1: before every other router).
	Priority int
}

// EntryPointTLS is the TLS applied to every router of an entrypoint.
type EntryPointTLS struct {
	CertResolver string           // a certificatesResolvers name; default "" (none)
	Options      string           // a TLS options name from the dynamic configuration; default ""
	Domains      []dynamic.Domain // certificates to obtain up front; default none
}

// HTTP2 holds HTTP/2 limits.
type HTTP2 struct {
	// MaxConcurrentStreams per connection. Default: 100.
	MaxConcurrentStreams int
}

// Providers are the sources of dynamic configuration.
type Providers struct {
	// ProvidersThrottleDuration is the minimum time between two applied configurations;
	// changes arriving meanwhile are merged into the next one. Default: 0 (each change is
	// applied at once; every provider already coalesces its own bursts, and Traefik's 2s
	// would make a new container wait that long for its route).
	ProvidersThrottleDuration time.Duration
	// File reads dynamic configuration from a file or a directory. Default: nil (off).
	File *FileProvider
	// Docker reads dynamic configuration from container labels. Default: nil (off).
	Docker *DockerProvider
}

// FileProvider reads YAML files. Exactly one of Filename and Directory is required.
type FileProvider struct {
	Filename  string // one file; default ""
	Directory string // every .yml/.yaml file in it; default ""
	Watch     *bool  // reload on change; default true
}

// DockerProvider reads container labels from the Docker engine.
type DockerProvider struct {
	// Endpoint is the engine's address. Default: $DOCKER_HOST, else
	// "unix:///var/run/docker.sock".
	Endpoint string
	// ExposedByDefault serves containers without `wharf.enable=true`.
	// Default: false (Traefik's is true; wharf serves only what is asked for).
	ExposedByDefault *bool
	// DefaultRule is the rule of routers that labels create without one (a Go template).
	// Default: "Host(`{{ normalize .Name }}`)".
	DefaultRule string
	// Network is the network to reach containers on, when they are on several. Default: "".
	Network string
	// UseBindPortIP uses the host IP and port a container port is published on.
	// Default: false.
	UseBindPortIP bool `wharf:"useBindPortIP"`
	// Constraints is an expression on labels that selects containers. Default: "" (all).
	Constraints string
	// Watch follows engine events; false reads the containers once. Default: true.
	Watch *bool
	// LabelPrefix is the label namespace. "traefik" reads compose files written for
	// Traefik unchanged. Default: "wharf".
	LabelPrefix string
	// AllowEmptyServices keeps a service whose containers are all unhealthy, so it answers
	// 503 instead of 404. Default: false.
	AllowEmptyServices bool
	// TLS configures the client side of a TLS engine endpoint. Default: nil.
	TLS *ClientTLS `wharf:"tls"`
	// Debounce waits this long after an engine event for more before relisting.
	// Default: 200ms.
	Debounce time.Duration
	// ResyncInterval relists everything periodically, healing missed events. Default: 5m.
	ResyncInterval time.Duration
	// HTTPClientTimeout bounds each list or inspect request to the engine (the event
	// stream has no timeout). Default: 30s.
	HTTPClientTimeout time.Duration `wharf:"httpClientTimeout"`
}

// ClientTLS is a TLS client configuration for the Docker endpoint.
type ClientTLS struct {
	CA                 string `wharf:"ca"` // PEM file of the CA to trust; default "" (system roots)
	Cert               string // client certificate PEM file; default ""; needs Key
	Key                string // client key PEM file; default ""; needs Cert
	InsecureSkipVerify bool   // do not verify the engine's certificate; default false
}

// CertResolver obtains certificates. ACME is the only kind wharf supports.
type CertResolver struct {
	ACME *ACME `wharf:"acme"` // required
}

// ACME obtains certificates from an ACME CA (Let's Encrypt by default).
type ACME struct {
	// Email is the ACME account contact. Required: without it the ACME library would
	// prompt on stdin.
	Email string
	// CAServer is the ACME directory URL, or "production" / "staging" for Let's Encrypt's.
	// Default: Let's Encrypt production.
	CAServer string `wharf:"caServer"`
	// Storage is the directory for certificates and account keys. A Traefik "acme.json"
	// path is accepted: its directory is used, with a warning. Default: "./data/certs".
	Storage string
	// KeyType of certificate keys: EC256, EC384, RSA2048, RSA4096, RSA8192. Default: EC256.
	KeyType string
	// CertificatesDuration is the certificates' lifetime in hours, as in Traefik; it sets
	// when renewal starts. Default: 2160 (90 days).
	CertificatesDuration int
	// EAB is the external account binding some CAs require. Default: nil.
	EAB *EAB `wharf:"eab"`
	// PreferredChain picks an alternate chain by its root's common name. Default: "".
	PreferredChain string
	// HTTPChallenge solves HTTP-01 on an entrypoint (which must listen on port 80 as the CA
	// sees it). Default: nil.
	HTTPChallenge *HTTPChallenge `wharf:"httpChallenge"`
	// TLSChallenge solves TLS-ALPN-01 (`tlsChallenge: {}`). Default: nil.
	TLSChallenge *TLSChallenge `wharf:"tlsChallenge"`
	// DNSChallenge solves DNS-01 through a DNS provider. Default: nil.
	DNSChallenge *DNSChallenge `wharf:"dnsChallenge"`
	// CACertificates are PEM files of roots to trust for the CA server (a private CA).
	// Default: none (system roots).
	CACertificates []string `wharf:"caCertificates"`
	// Profile is the ACME certificate profile to request. Default: "" (the CA's default).
	Profile string
	// OnDemand obtains a certificate at the first handshake for a name that a current
	// router's Host rule (or Allow) matches, rather than up front (wharf-specific).
	// Default: nil (off). At most one resolver may set it.
	OnDemand *OnDemand
}

// OnDemand is on-demand TLS for one resolver.
type OnDemand struct {
	// Allow lists more names (exact or "*.example.com") that may get a certificate at the
	// first handshake. Default: none (only names of current routers).
	Allow []string
	// Interval and Burst rate-limit issuance: Burst certificates, then one per Interval.
	// Default: 10 per minute.
	Interval time.Duration
	Burst    int
}

// EAB is an ACME external account binding.
type EAB struct {
	Kid         string // key identifier; required with EAB
	HmacEncoded string // base64url HMAC key; required with EAB
}

// HTTPChallenge solves HTTP-01.
type HTTPChallenge struct {
	EntryPoint string // the entrypoint that answers the CA; required
}

// TLSChallenge solves TLS-ALPN-01 on the TLS entrypoints. It has no options.
type TLSChallenge struct{}

// DNSChallenge solves DNS-01.
type DNSChallenge struct {
	Provider                string        // DNS provider name; required
	DelayBeforeCheck        time.Duration // wait before checking propagation; default 0
	Resolvers               []string      // DNS servers "host:port" to check with; default: system's
	DisablePropagationCheck bool          // skip the propagation check; default false
}

// API serves the API and the dashboard on their own listener.
type API struct {
	// Address is where the API listens (wharf-specific). Default: "127.0.0.1:8080", or
	// ":8080" when Insecure is set (Traefik's meaning of insecure).
	Address string
	// Dashboard serves the dashboard under /dashboard/. Default: true.
	Dashboard *bool
	// Insecure is Traefik's "serve the API on :8080 on every address"; it only changes
	// the default Address, with a warning. Default: false.
	Insecure bool
	// Debug serves /debug/pprof and /debug/vars. Default: false.
	Debug bool
	// BasicAuth protects the API. Default: nil (no authentication).
	BasicAuth *BasicAuth
}

// BasicAuth is a list of htpasswd lines.
type BasicAuth struct {
	Users []string // "name:hash" (bcrypt, SHA1 or APR1); default none
}

// Ping answers GET /ping with 200 while wharf runs.
type Ping struct {
	// EntryPoint serves /ping on this entrypoint. Default: "" (the API listener; Traefik's
	// "traefik" entrypoint means the same when no entrypoint has that name).
	EntryPoint string
	// ManualRouting leaves routing /ping to a router using the ping@internal service.
	// Default: false.
	ManualRouting bool
	// TerminatingStatusCode is answered during shutdown. Default: 503.
	TerminatingStatusCode int
}

// Metrics holds the metrics backends.
type Metrics struct {
	Prometheus *Prometheus // default nil (off)
}

// Prometheus exposes metrics at /metrics.
type Prometheus struct {
	// Buckets of the request duration histograms, in seconds, increasing.
	// Default: 0.1, 0.3, 1.2, 5.
	Buckets []float64
	// AddEntryPointsLabels adds per-entrypoint metrics. Default: true.
	AddEntryPointsLabels *bool
	// AddRoutersLabels adds per-router metrics. Default: false.
	AddRoutersLabels bool
	// AddServicesLabels adds per-service metrics. Default: true.
	AddServicesLabels *bool
	// EntryPoint serves /metrics on this entrypoint. Default: "" (the API listener, or
	// Address); "traefik" means the API listener as in Traefik.
	EntryPoint string
	// Address serves /metrics on a listener of its own (wharf-specific). Default: "".
	Address string
	// ManualRouting leaves routing /metrics to a router using prometheus@internal.
	// Default: false.
	ManualRouting bool
}

// Log is wharf's own log.
type Log struct {
	// Level: trace, debug, info, warn, error (also fatal, panic). Default: "info".
	Level string
	// Format: json or console ("common" is read as console). Default: "" (auto: json,
	// console when stderr is a terminal).
	Format string
	// FilePath writes the log to this file. Default: "" (stderr).
	FilePath string
	// NoColor turns colors off in the console format. Default: false.
	NoColor bool
}

// AccessLog logs requests.
type AccessLog struct {
	// FilePath writes the access log to this file. Default: "" (stdout).
	FilePath string
	// Format: json or common (the Common Log Format, Traefik's default). Default: "json",
	// one object per line that log tools parse without a grammar.
	Format string
	// BufferingSize is how many lines may be buffered before writing. Default: 0.
	BufferingSize int64
	// Filters keep only some requests. Default: all kept.
	Filters AccessLogFilters
	// Fields chooses which fields and headers are logged.
	Fields AccessLogFields
}

// AccessLogFilters keep a request when any filter matches.
type AccessLogFilters struct {
	StatusCodes   []string      // "404", "500-599"; default none
	RetryAttempts bool          // keep retried requests; default false
	MinDuration   time.Duration // keep requests slower than this; default 0
}

// AccessLogFields chooses what each line contains.
type AccessLogFields struct {
	DefaultMode string            // keep, drop or redact; default "keep"
	Names       map[string]string // field name -> mode; default none
	Headers     AccessLogHeaders  // request headers; dropped by default
}

// AccessLogHeaders chooses which request headers are logged.
type AccessLogHeaders struct {
	// DefaultMode: keep, drop or redact. Default: "drop" (headers carry credentials).
	DefaultMode string
	// Names maps a header name to its mode. Default: none.
	Names map[string]string
}

// Server holds wharf-specific process options.
type Server struct {
	// GraceTimeout is how long shutdown waits for everything (entrypoints, providers) before
	// exiting anyway. Default: 10s.
	GraceTimeout time.Duration
}
