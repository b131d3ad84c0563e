package static

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The defaults, in one place. SECURITY.md's table is the source of the edge timeouts and
// limits; Traefik's documentation is the source of the rest, except where wharf is safer
// (exposedByDefault, the API's address) and says so.
const (
	DefaultEntryPointName    = "http" // the entrypoint created when none is configured
	DefaultEntryPointAddress = ":80"

	DefaultReadTimeout          = 60 * time.Second
	DefaultIdleTimeout          = 180 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultGraceTimeOut         = 10 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxConcurrentStreams = 100
	DefaultRedirectScheme       = "https"
	DefaultRedirectPriority     = math.MaxInt32 - 1

	DefaultProvidersThrottle = time.Duration(0) // providers debounce their own bursts
	DefaultDockerEndpoint    = "unix:///var/run/docker.sock"
	DefaultDockerRule        = "Host(`{{ normalize .Name }}`)"
	DefaultLabelPrefix       = "wharf"
	DefaultDockerDebounce    = 200 * time.Millisecond
	DefaultDockerResync      = 5 * time.Minute
	DefaultDockerHTTPTimeout = 30 * time.Second

	LetsEncryptProduction       = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging          = "https://acme-staging-v02.api.letsencrypt.org/directory"
	DefaultACMEStorage          = "./data/certs"
	DefaultKeyType              = "EC256"
	DefaultCertificatesDuration = 2160 // hours

	DefaultAPIAddress         = "127.0.0.1:8080"
	DefaultInsecureAPIAddress = ":8080" // api.insecure: Traefik's "on every address"

	DefaultPingTerminatingStatusCode = 503
	DefaultLogLevel                  = "info"
	DefaultAccessLogFormat           = "json"
	DefaultAccessLogFieldsMode       = "keep"
	DefaultAccessLogHeadersMode      = "drop"
	DefaultServerGraceTimeout        = 10 * time.Second
)

// defaultBuckets are Traefik's request duration buckets, in seconds. A function, not a
// variable, so nobody can change them for the whole process.
func defaultBuckets() []float64 { return []float64{0.1, 0.3, 1.2, 5} }

// applyDefaults fills in every option that was left out. It runs after decoding, so an
// option counts as left out when it is zero; that is why the edge timeouts cannot be turned
// off by writing 0. env is the process environment (for DOCKER_HOST).
func (c *Config) applyDefaults(env []string) {
	if len(c.EntryPoints) == 0 {
		c.EntryPoints = map[string]*EntryPoint{DefaultEntryPointName: {Address: DefaultEntryPointAddress}}
	}
	for _, ep := range c.EntryPoints {
		if ep != nil {
			ep.applyDefaults()
		}
	}
	c.Providers.applyDefaults(env)
	for _, r := range c.CertificatesResolvers {
		if r != nil && r.ACME != nil {
			r.ACME.applyDefaults()
		}
	}
	if c.API != nil {
		if c.API.Address == "" {
			c.API.Address = DefaultAPIAddress
			if c.API.Insecure {
				c.API.Address = DefaultInsecureAPIAddress
			}
		}
		setDefault(&c.API.Dashboard, true)
	}
	if c.Ping != nil && c.Ping.TerminatingStatusCode == 0 {
		c.Ping.TerminatingStatusCode = DefaultPingTerminatingStatusCode
	}
	if c.Metrics != nil && c.Metrics.Prometheus != nil {
		p := c.Metrics.Prometheus
		if len(p.Buckets) == 0 {
			p.Buckets = defaultBuckets()
		}
		setDefault(&p.AddEntryPointsLabels, true)
		setDefault(&p.AddServicesLabels, true)
	}
	orDefault(&c.Log.Level, DefaultLogLevel)
	if c.AccessLog != nil {
		orDefault(&c.AccessLog.Format, DefaultAccessLogFormat)
		orDefault(&c.AccessLog.Fields.DefaultMode, DefaultAccessLogFieldsMode)
		orDefault(&c.AccessLog.Fields.Headers.DefaultMode, DefaultAccessLogHeadersMode)
	}
	orDefault(&c.Server.GraceTimeout, DefaultServerGraceTimeout)
}

func (ep *EntryPoint) applyDefaults() {
	rt := &ep.Transport.RespondingTimeouts
	orDefault(&rt.ReadTimeout, DefaultReadTimeout)
	orDefault(&rt.IdleTimeout, DefaultIdleTimeout)
	orDefault(&rt.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&ep.Transport.LifeCycle.GraceTimeOut, DefaultGraceTimeOut)
	orDefault(&ep.HTTP.MaxHeaderBytes, DefaultMaxHeaderBytes)
	orDefault(&ep.HTTP2.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	if r := ep.HTTP.Redirections; r != nil && r.EntryPoint != nil {
		orDefault(&r.EntryPoint.Scheme, DefaultRedirectScheme)
		setDefault(&r.EntryPoint.Permanent, true)
		orDefault(&r.EntryPoint.Priority, DefaultRedirectPriority)
	}
}

func (p *Providers) applyDefaults(env []string) {
	orDefault(&p.ProvidersThrottleDuration, DefaultProvidersThrottle)
	if p.File != nil {
		setDefault(&p.File.Watch, true)
	}
	if d := p.Docker; d != nil {
		orDefault(&d.Endpoint, lookupEnv(env, "DOCKER_HOST"))
		orDefault(&d.Endpoint, DefaultDockerEndpoint)
		setDefault(&d.ExposedByDefault, false)
		orDefault(&d.DefaultRule, DefaultDockerRule)
		setDefault(&d.Watch, true)
		orDefault(&d.LabelPrefix, DefaultLabelPrefix)
		orDefault(&d.Debounce, DefaultDockerDebounce)
		orDefault(&d.ResyncInterval, DefaultDockerResync)
		orDefault(&d.HTTPClientTimeout, DefaultDockerHTTPTimeout)
	}
}

func (a *ACME) applyDefaults() {
	orDefault(&a.CAServer, LetsEncryptProduction)
	orDefault(&a.Storage, DefaultACMEStorage)
	orDefault(&a.KeyType, DefaultKeyType)
	orDefault(&a.CertificatesDuration, DefaultCertificatesDuration)
}

func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func setDefault(p **bool, def bool) {
	if *p == nil {
		*p = &def
	}
}

// lookupEnv finds name in an os.Environ-style list; the last assignment wins, as in a shell.
func lookupEnv(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// Defaults lists every option that has a non-zero default, keyed like Keys ("<name>" for a
// map key), with the value written the way a user would write it. Derived from the code
// that applies them, so documentation generated from it cannot drift. Options absent from
// the map default to their zero value (false, 0, "", none). DOCKER_HOST is not consulted.
func Defaults() map[string]string {
	c := &Config{API: &API{}}
	allocate(reflect.ValueOf(c).Elem())
	c.applyDefaults(nil)
	out := map[string]string{
		"entryPoints": fmt.Sprintf("%s on %q, only when no entrypoint is configured", DefaultEntryPointName, DefaultEntryPointAddress),
	}
	walkValues(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		if s, ok := formatDefault(v); ok {
			out[path] = s
		}
	})
	return out
}

// allocate turns on every optional section and gives every map one entry named "<name>",
// so that applyDefaults reaches every option.
func allocate(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type() == nodePtrType || v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		allocate(v.Elem())
	case reflect.Struct:
		for _, f := range schemaFields(v.Type()) {
			allocate(v.Field(f.index))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.Pointer {
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		e := reflect.New(v.Type().Elem().Elem())
		allocate(e.Elem())
		v.SetMapIndex(reflect.ValueOf("<name>"), e)
	}
}

// formatDefault renders a leaf value as it would be written in wharf.yml, or reports false
// for a zero value (which needs no documentation as a default).
func formatDefault(v reflect.Value) (string, bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() || v.Type() == nodePtrType {
			return "", false
		}
		return strconv.FormatBool(v.Elem().Bool()), true // only *bool is a pointer leaf
	}
	if v.IsZero() {
		return "", false
	}
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int())), true
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ","), true
	}
	return fmt.Sprint(v.Interface()), true
}

// formatDuration writes a duration the way the documentation does: whole seconds below
// five minutes ("60s", "180s", as SECURITY.md's table), else the largest exact unit ("5m").
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d != 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && (d >= 5*time.Minute || d <= -5*time.Minute):
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

// sortedKeys returns a map's string keys in order, so walks never depend on map order.
func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}
