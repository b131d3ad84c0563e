package docker

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// ConvertOptions are the provider settings that shape how labels become configuration.
// The zero value is usable: prefix "wharf", exposedByDefault false, Traefik's default rule.
type ConvertOptions struct {
	LabelPrefix        string `json:"labelPrefix,omitempty"`        // "": "wharf"
	ExposedByDefault   bool   `json:"exposedByDefault,omitempty"`   // serve containers without <prefix>.enable=true
	DefaultRule        string `json:"defaultRule,omitempty"`        // Go template; "": DefaultRule
	Network            string `json:"network,omitempty"`            // preferred network when a container has several
	Constraints        string `json:"constraints,omitempty"`        // "": every container
	AllowEmptyServices bool   `json:"allowEmptyServices,omitempty"` // keep unhealthy containers' services, without servers
	// Self is wharf's own container when it runs in one, nil otherwise. It decides the
	// shared network and how host-network containers are reached.
	Self          *Container `json:"self,omitempty"`
	MaxLabels     int        `json:"maxLabels,omitempty"`     // 0: DefaultMaxLabels
	MaxValueBytes int        `json:"maxValueBytes,omitempty"` // 0: DefaultMaxValueBytes
}

// converter is ConvertOptions made ready: the template and constraints parsed once.
type converter struct {
	opts       ConvertOptions
	prefix     string // "wharf." as configured (compared case-insensitively)
	rule       *template.Template
	constraint constraint
	maxLabels  int
	maxValue   int
	memo       *memo // nil: convert every container every time
}

func newConverter(opts ConvertOptions) (*converter, error) {
	cv := &converter{opts: opts, maxLabels: opts.MaxLabels, maxValue: opts.MaxValueBytes}
	prefix := strings.Trim(opts.LabelPrefix, ".")
	if prefix == "" {
		prefix = "wharf"
	}
	cv.prefix = prefix + "."
	if cv.maxLabels <= 0 {
		cv.maxLabels = DefaultMaxLabels
	}
	if cv.maxValue <= 0 {
		cv.maxValue = DefaultMaxValueBytes
	}
	var err error
	if cv.rule, err = parseRuleTemplate(opts.DefaultRule); err != nil {
		return nil, err
	}
	if cv.constraint, err = parseConstraints(opts.Constraints); err != nil {
		return nil, err
	}
	return cv, nil
}

// Convert turns containers into configuration: the pure labels-to-config function behind
// the provider. Names in the result are unqualified (the aggregator adds "@docker").
// A container with a problem is reported and, depending on the problem, loses one item or
// is skipped; the other containers are unaffected. Definitions that two containers give
// differently are dropped with an error naming both; identical ones merge.
//
// Convert converts every container; a Converter remembers conversions between calls.
func Convert(containers []Container, opts ConvertOptions) (*dynamic.Configuration, dynamic.Errors) {
	cv, err := newConverter(opts)
	if err != nil {
		return dynamic.NewConfiguration(), dynamic.Errors{{Source: dynamic.Source{Provider: "docker"}, Msg: err.Error()}}
	}
	return cv.convert(containers)
}

func (cv *converter) convert(containers []Container) (*dynamic.Configuration, dynamic.Errors) {
	sorted := make([]*Container, len(containers))
	for i := range containers {
		sorted[i] = &containers[i]
		sorted[i].ruleMemo = nil // per conversion: a caller may pass the same structs with other labels
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Name != sorted[j].Name {
			return sorted[i].Name < sorted[j].Name
		}
		return sorted[i].ID < sorted[j].ID
	})
	if cv.memo != nil {
		cv.memo.begin(cv.opts.Self)
		defer cv.memo.end()
	}
	m := newMerger(cv.memo)
	var errs dynamic.Errors
	for _, p := range cv.parts(sorted) {
		errs = append(errs, p.errors()...)
		if p.cfg != nil {
			m.add(p.c, p.cfg)
		}
	}
	cfg, es := m.result()
	return cfg, append(errs, es...)
}

// containerPart is one container of a conversion with its part.
type containerPart struct {
	c *Container
	*part
}

// parts converts each container, or takes its part from the memo (locked by the caller)
// when it is unchanged.
func (cv *converter) parts(sorted []*Container) []containerPart {
	out := make([]containerPart, len(sorted))
	if cv.memo == nil {
		for i, c := range sorted {
			cfg, errs := cv.container(c)
			out[i] = containerPart{c, &part{cfg: cfg, errs: errs}}
		}
		return out
	}
	for i, c := range sorted {
		p := cv.memo.lookup(c)
		if p == nil {
			cfg, errs := cv.container(c)
			p = &part{in: *copyContainer(c), cfg: cfg, errs: errs}
		}
		cv.memo.keep(c.ID, p)
		out[i] = containerPart{c, p}
	}
	return out
}

// wanted reports whether container can matter to this wharf: it matches the constraints
// and is enabled, or has something to be told about (an unreadable enable label, labels
// without enable). The provider uses it to skip inspecting every other container.
func (cv *converter) wanted(c *Container) bool {
	if cv.constraint != nil && !cv.constraint.match(c.Labels) {
		return false
	}
	own, _ := cv.splitLabels(c)
	on, err := cv.enabled(own)
	return err != nil || on || cv.forgotEnable(c, own) != nil
}

// container converts one container. It returns nil when the container is not served.
func (cv *converter) container(c *Container) (*dynamic.Configuration, dynamic.Errors) {
	if !c.running() {
		return nil, nil
	}
	own, errs := cv.splitLabels(c)
	on, err := cv.enabled(own)
	if err != nil {
		return nil, dynamic.Errors{err}
	}
	// A container for another wharf (constraints) is none of this one's business, not even
	// its mistakes.
	if cv.constraint != nil && !cv.constraint.match(c.Labels) {
		return nil, nil
	}
	if !on {
		return nil, appendErr(nil, cv.forgotEnable(c, own))
	}
	if err := cv.checkCaps(c, own); err != nil {
		return nil, dynamic.Errors{err}
	}
	tree, es := dynamic.FromDotted(own.config)
	errs = append(errs, es...)
	cfg, es := decodeTree(tree)
	errs = append(errs, es...)
	if !c.healthy() && !cv.opts.AllowEmptyServices {
		return nil, errs // not served until healthy; its label errors are still worth knowing
	}
	var t target
	if c.healthy() {
		t = cv.chooseTarget(c, own.network)
		errs = append(errs, t.errs...)
	}
	name := defaultName(c)
	errs = append(errs, cv.httpServices(c, cfg, t, name)...)
	errs = append(errs, cv.httpRouters(c, cfg, name)...)
	errs = append(errs, cv.tcpUDP(c, cfg, t, name)...)
	return cfg, errs
}

// forgotEnable warns about a container that configures routes but never says
// <prefix>.enable=true: with exposedByDefault false (unlike Traefik) it is not served, which
// surprises everyone migrating a compose file.
func (cv *converter) forgotEnable(c *Container, own ownLabels) *dynamic.Error {
	if own.enable != nil || len(own.config) == 0 {
		return nil
	}
	return &dynamic.Error{Source: cv.source(c, ""), Warning: true, Msg: fmt.Sprintf(
		"has %s labels but no %senable=true, so it is not served (exposedByDefault is false)",
		strings.TrimSuffix(cv.prefix, "."), cv.prefix)}
}

func appendErr(errs dynamic.Errors, err *dynamic.Error) dynamic.Errors {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// httpServices gives every load balancer the container declares one server: the container's
// address with the port and scheme from its labels. A container that declares no service
// gets one named after it, unless it only speaks TCP or UDP.
func (cv *converter) httpServices(c *Container, cfg *dynamic.Configuration, t target, name string) dynamic.Errors {
	h := cfg.HTTP
	tcpOnly := !cv.declared(c, "http.") && (cfg.TCP != nil || cfg.UDP != nil)
	if !cv.declared(c, "http.services.") && !tcpOnly {
		h.Services[name] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{}, Source: cv.source(c, "")}
	}
	var errs dynamic.Errors
	for _, sname := range sortedKeys(h.Services) {
		svc := h.Services[sname]
		label := cv.prefix + "http.services." + sname + ".loadbalancer"
		server, problem, drop := cv.httpServer(c, svc, t, label)
		if drop {
			problem.Msg += fmt.Sprintf(" (service %q is left out)", sname)
			delete(h.Services, sname)
		}
		errs = appendErr(errs, problem)
		if drop {
			continue
		}
		lb := svc.LoadBalancer
		lb.Server, lb.Servers = nil, nil
		if server != nil {
			lb.Servers = []dynamic.Server{*server}
		}
	}
	return errs
}

// httpServer builds the one server a container contributes to a service. Without an
// address or a port it returns no server and keeps the service: an empty service answers
// 503, which says "known but down" where dropping it would say 404. drop is set for
// mistakes in the service's own labels, which leave the service out.
func (cv *converter) httpServer(c *Container, svc *dynamic.Service, t target, label string) (server *dynamic.Server, problem *dynamic.Error, drop bool) {
	if svc.LoadBalancer == nil {
		return nil, &dynamic.Error{Source: svc.Source, Msg: "only loadbalancer services can be declared in labels; declare weighted, mirroring and failover services in the file provider"}, true
	}
	lb := svc.LoadBalancer
	if len(lb.Servers) > 0 || lb.Server != nil && lb.Server.URL != "" {
		return nil, &dynamic.Error{Source: svc.Source, Msg: "servers are not given by URL in labels: wharf takes the container's address; set loadbalancer.server.port and .scheme"}, true
	}
	spec := dynamic.Server{Scheme: "http", Source: cv.source(c, "")}
	if lb.Server != nil {
		spec.Port, spec.Weight, spec.PreservePath = strings.TrimSpace(lb.Server.Port), lb.Server.Weight, lb.Server.PreservePath
		if s := strings.ToLower(strings.TrimSpace(lb.Server.Scheme)); s != "" {
			spec.Scheme = s
		}
	}
	if spec.Scheme != "http" && spec.Scheme != "https" && spec.Scheme != "h2c" {
		return nil, &dynamic.Error{Source: cv.source(c, label+".server.scheme"), Value: spec.Scheme, HasVal: true, Msg: "scheme must be http, https or h2c"}, true
	}
	port, err := cv.port(c, spec.Port, "tcp", label+".server.port")
	if err != nil {
		if spec.Port != "" {
			return nil, err, true
		}
		if !c.healthy() {
			return nil, nil, false // no server either way; the port matters once it is healthy
		}
		err.Msg += "; the service is kept without servers and answers 503"
		return nil, err, false
	}
	if t.ip == "" {
		return nil, nil, false
	}
	spec.URL = spec.Scheme + "://" + net.JoinHostPort(t.ip, strconv.Itoa(port))
	spec.Port, spec.Scheme = "", ""
	return &spec, nil, false
}

// port reads a port label, or detects the port when the label is absent.
func (cv *converter) port(c *Container, raw, proto, label string) (int, *dynamic.Error) {
	if raw == "" {
		if p, ok := detectPort(c, proto); ok {
			return p, nil
		}
		return 0, &dynamic.Error{Source: cv.source(c, ""), Msg: fmt.Sprintf(
			"exposes no %s port; set the label %s", strings.ToUpper(proto), label)}
	}
	p, err := strconv.Atoi(raw)
	if err != nil || p < 1 || p > 65535 {
		return 0, &dynamic.Error{Source: cv.source(c, label), Value: raw, HasVal: true, Msg: "not a port (1-65535)"}
	}
	return p, nil
}

// declared reports whether any label (even one that failed to decode) starts with
// <prefix><section>, so a broken declaration does not silently turn into a default one.
func (cv *converter) declared(c *Container, section string) bool {
	want := strings.ToLower(cv.prefix + section)
	for k := range c.Labels {
		if strings.HasPrefix(strings.ToLower(k), want) {
			return true
		}
	}
	return false
}
