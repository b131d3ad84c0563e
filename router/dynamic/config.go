package dynamic

import (
	"strings"
	"time"
)

// Configuration is everything one provider describes at one moment. Providers send a new
// one for every change and never touch it again after sending. Key names are Traefik's, so
// a Traefik dynamic file of supported features decodes unchanged.
type Configuration struct {
	HTTP *HTTPConfiguration `wharf:"http"`
	TCP  *TCPConfiguration  `wharf:"tcp"`
	UDP  *UDPConfiguration  `wharf:"udp"`
	TLS  *TLSConfiguration  `wharf:"tls"`
}

// HTTPConfiguration holds the HTTP routers, services, middlewares and backend transports.
type HTTPConfiguration struct {
	Routers           map[string]*Router
	Services          map[string]*Service
	Middlewares       map[string]*Middleware
	ServersTransports map[string]*ServersTransport
}

// Router matches requests on some entrypoints by rule and sends them through its
// middlewares to its service.
type Router struct {
	EntryPoints []string // empty: every entrypoint that is not excluded by default
	Rule        string
	RuleSyntax  string // accepted for Traefik compatibility; only v3 syntax is read
	Priority    int    // 0: the length of the rule
	Service     string
	Middlewares []string
	TLS         *RouterTLS `wharf:"tls"`
	// Observability turns the access log and metrics off for this router (Traefik's
	// observability section). nil: both on.
	Observability *RouterObservability
	Source        Source
}

// RouterObservability opts a router out of the access log or metrics.
type RouterObservability struct {
	AccessLogs *bool // nil: true
	Metrics    *bool // nil: true
	Tracing    *bool // accepted for Traefik compatibility; wharf has no tracing
}

// RouterTLS turns on TLS for a router. Present but empty (`tls=true`) means: terminate TLS
// with whatever certificate matches.
type RouterTLS struct {
	CertResolver string
	Options      string
	Domains      []Domain
}

// Domain names a certificate to obtain: Main plus SANs.
type Domain struct {
	Main string
	SANs []string `wharf:"sans"`
}

// Service is where a router sends requests. Exactly one kind must be set.
type Service struct {
	LoadBalancer *LoadBalancer
	Weighted     *Weighted
	Mirroring    *Mirroring
	Failover     *Failover
	Source       Source
}

// LoadBalancer spreads requests over servers.
type LoadBalancer struct {
	Servers []Server
	// Server is the label form (`loadbalancer.server.port=8080`); providers that know the
	// container's address turn it into Servers.
	Server             *Server
	Strategy           string // "wrr" (default), "p2c", "hrw" or "leastconn"; see docs/load-balancing.md
	HashHeader         string // hrw: hash this request header instead of the client's IP (wharf)
	PassHostHeader     *bool  // nil: true
	HealthCheck        *HealthCheck
	PassiveHealthCheck *PassiveHealthCheck
	Sticky             *Sticky
	ServersTransport   string
	ResponseForwarding *ResponseForwarding
}

// PassesHostHeader reports the effective passHostHeader (Traefik's default is true).
func (lb *LoadBalancer) PassesHostHeader() bool {
	return lb.PassHostHeader == nil || *lb.PassHostHeader
}

// Server is one backend address.
type Server struct {
	URL          string `wharf:"url"`
	Weight       *int
	PreservePath bool
	Port         string // label form only
	Scheme       string // label form only
	Source       Source
}

// ResponseForwarding controls how response bodies are streamed to the client.
type ResponseForwarding struct {
	FlushInterval time.Duration // 0: 100ms; negative: flush after every write
}

// HealthCheck is an active health check of every server of a load balancer.
type HealthCheck struct {
	Scheme            string
	Mode              string // "http" (default) or "grpc"
	Path              string
	Method            string
	Status            int
	Statuses          []string // wharf: healthy statuses and ranges ("200-299", "418"), besides Status
	Port              int
	Hostname          string
	Interval          time.Duration
	UnhealthyInterval time.Duration
	Timeout           time.Duration
	FollowRedirects   *bool
	Headers           map[string]string
}

// PassiveHealthCheck takes a server out after repeated failures seen on real traffic.
type PassiveHealthCheck struct {
	FailureWindow     time.Duration
	MaxFailedAttempts int
	FailureStatus     []string // wharf: responses that count as failures ("500-599"); errors always do
}

// Sticky pins a client to a server.
type Sticky struct {
	Cookie *Cookie
}

// Cookie configures a sticky-session cookie.
type Cookie struct {
	Name     string
	Secure   bool
	HTTPOnly bool `wharf:"httpOnly"`
	SameSite string
	MaxAge   int
	Path     string
	Domain   string
}

// Weighted splits traffic between services.
type Weighted struct {
	Services    []WeightedService
	Sticky      *Sticky
	HealthCheck *ServiceHealthCheck
}

// ServiceHealthCheck (`healthCheck: {}` on weighted, mirroring and failover services) is
// accepted for Traefik compatibility: wharf always lets a parent service see whether its
// children have a healthy server.
type ServiceHealthCheck struct{}

// WeightedService is one target of a Weighted service.
type WeightedService struct {
	Name   string
	Weight *int
}

// Mirroring sends copies of requests to other services.
type Mirroring struct {
	Service     string
	MirrorBody  *bool
	MaxBodySize *int64
	Mirrors     []Mirror
	HealthCheck *ServiceHealthCheck
}

// Mirror is one mirror of a Mirroring service.
type Mirror struct {
	Name    string
	Percent int
}

// Failover uses Fallback while Service has no healthy server.
type Failover struct {
	Service  string
	Fallback string
	// Status (wharf): also use Fallback for a request that Service answers with one of these
	// statuses or ranges ("502-504").
	Status      []string
	HealthCheck *ServiceHealthCheck
}

// ServersTransport configures how wharf talks to backends.
type ServersTransport struct {
	ServerName          string
	InsecureSkipVerify  bool
	RootCAs             []string `wharf:"rootCAs"`
	Certificates        []Certificate
	MaxIdleConnsPerHost int
	DisableHTTP2        bool `wharf:"disableHTTP2"`
	ForwardingTimeouts  *ForwardingTimeouts
	Source              Source
}

// ForwardingTimeouts bound each phase of a backend exchange.
type ForwardingTimeouts struct {
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
}

// Middleware is one named middleware. Its single key names the type; the options below it
// are kept as a Node and decoded by that type when the table is compiled, so each type's
// options are defined once, in router/middleware, for every provider.
type Middleware struct {
	Type    string // as written, e.g. "stripPrefix"
	Options *Node
	Source  Source
}

// UnmarshalNode reads `{stripPrefix: {prefixes: [/api]}}`: exactly one key, the type.
func (m *Middleware) UnmarshalNode(n *Node, path string) Errors {
	m.Source = n.Src
	if n.Kind != Map || len(n.Entries) == 0 {
		return Errors{{Source: n.Src, Path: path, Msg: "a middleware needs a type, for example stripPrefix or basicAuth"}}
	}
	if len(n.Entries) > 1 {
		types := make([]string, len(n.Entries))
		for i, e := range n.Entries {
			types[i] = e.Key
		}
		return Errors{{Source: n.Entries[1].Value.Src, Path: path, Msg: "a middleware has exactly one type, found " + strings.Join(types, " and ") + "; declare one middleware per type and list them on the router"}}
	}
	m.Type, m.Options = n.Entries[0].Key, n.Entries[0].Value
	return nil
}

// TLSConfiguration holds certificates and named TLS options.
type TLSConfiguration struct {
	Certificates []Certificate
	Options      map[string]*TLSOptions
	Stores       map[string]*TLSStore
}

// Certificate is a certificate and key, as file paths or inline PEM.
type Certificate struct {
	CertFile string
	KeyFile  string
	Stores   []string
	Source   Source
}

// TLSOptions are the TLS parameters a router can select by name.
type TLSOptions struct {
	MinVersion       string
	MaxVersion       string
	CipherSuites     []string
	CurvePreferences []string
	ALPNProtocols    []string `wharf:"alpnProtocols"`
	ClientAuth       *ClientAuth
	SNIStrict        bool `wharf:"sniStrict"`
	Source           Source
}

// ClientAuth configures mutual TLS.
type ClientAuth struct {
	CAFiles        []string `wharf:"caFiles"`
	ClientAuthType string
}

// TLSStore holds the default certificate.
type TLSStore struct {
	DefaultCertificate *Certificate
}

// TCPConfiguration is read so that TCP labels and files are reported, not ignored; wharf does
// not route TCP yet.
type TCPConfiguration struct {
	Routers     map[string]*TCPRouter
	Services    map[string]*TCPService
	Middlewares map[string]*Middleware
}

// TCPRouter routes TCP connections by SNI.
type TCPRouter struct {
	EntryPoints []string
	Rule        string
	RuleSyntax  string
	Priority    int
	Service     string
	Middlewares []string
	TLS         *TCPRouterTLS `wharf:"tls"`
	Source      Source
}

// TCPRouterTLS is a TCP router's TLS section.
type TCPRouterTLS struct {
	Passthrough  bool
	CertResolver string
	Options      string
	Domains      []Domain
}

// TCPService is a TCP load balancer.
type TCPService struct {
	LoadBalancer *TCPLoadBalancer
	Source       Source
}

// TCPLoadBalancer lists TCP servers.
type TCPLoadBalancer struct {
	Servers       []TCPServer
	Server        *TCPServer
	ProxyProtocol *struct{ Version int }
}

// TCPServer is one TCP backend.
type TCPServer struct {
	Address string
	Port    string
	TLS     bool `wharf:"tls"`
}

// UDPConfiguration is read and reported, not routed yet.
type UDPConfiguration struct {
	Routers  map[string]*UDPRouter
	Services map[string]*UDPService
}

// UDPRouter forwards datagrams from entrypoints to a service.
type UDPRouter struct {
	EntryPoints []string
	Service     string
	Source      Source
}

// UDPService is a UDP load balancer.
type UDPService struct {
	LoadBalancer *UDPLoadBalancer
	Source       Source
}

// UDPLoadBalancer lists UDP servers.
type UDPLoadBalancer struct {
	Servers []UDPServer
	Server  *UDPServer
}

// UDPServer is one UDP backend.
type UDPServer struct {
	Address string
	Port    string
}

// NewConfiguration returns an empty configuration with every map allocated.
func NewConfiguration() *Configuration {
	return &Configuration{
		HTTP: &HTTPConfiguration{
			Routers:           map[string]*Router{},
			Services:          map[string]*Service{},
			Middlewares:       map[string]*Middleware{},
			ServersTransports: map[string]*ServersTransport{},
		},
		TLS: &TLSConfiguration{},
	}
}

// Qualify returns name@provider for a reference written without a provider. A reference
// that already names one (auth@file) is returned as is.
func Qualify(name, provider string) string {
	if name == "" || provider == "" || strings.Contains(name, "@") {
		return name
	}
	return name + "@" + provider
}
