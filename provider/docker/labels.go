package docker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Caps on what one container may carry under the label prefix. Labels are untrusted input:
// anyone who can start a container writes them, and wharf decodes them on every change.
const (
	DefaultMaxLabels     = 1000
	DefaultMaxValueBytes = 64 << 10
	// DefaultMaxTotalBytes caps all of a container's labels under the prefix together: the
	// two caps above alone would still let one container hand wharf 64 MB to convert.
	DefaultMaxTotalBytes = 1 << 20
)

// ownLabels is what a container says under wharf's prefix, split into the keys wharf acts
// on before decoding (enable, docker.*) and the rest, which is configuration.
type ownLabels struct {
	enable     *dynamic.Dotted // <prefix>.enable
	network    *dynamic.Dotted // <prefix>.docker.network
	config     []dynamic.Dotted
	configKeys int // len(config) + the keys above, for the count cap
}

// splitLabels picks the labels under the prefix (case-insensitively), strips the prefix, and
// tags each with its source so every later error names the container and the label.
func (cv *converter) splitLabels(c *Container) (ownLabels, dynamic.Errors) {
	var own ownLabels
	var errs dynamic.Errors
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) <= len(cv.prefix) || !strings.EqualFold(k[:len(cv.prefix)], cv.prefix) {
			continue
		}
		d := dynamic.Dotted{Key: k[len(cv.prefix):], Value: c.Labels[k], Src: cv.source(c, k)}
		own.configKeys++
		switch lower := strings.ToLower(d.Key); {
		case lower == "enable":
			own.enable = &d
		case lower == "docker.network":
			own.network = &d
		case lower == "docker.lbswarm":
			errs = append(errs, &dynamic.Error{Source: d.Src, Value: d.Value, HasVal: true, Warning: true,
				Msg: "Swarm load balancing is not supported yet; the label is ignored"})
		case strings.HasPrefix(lower, "docker."):
			errs = append(errs, &dynamic.Error{Source: d.Src, Value: d.Value, HasVal: true,
				Msg: fmt.Sprintf("unknown key %q%s", d.Key, dynamic.DidYouMean(d.Key, []string{"docker.network", "docker.lbswarm"}))})
		default:
			own.config = append(own.config, d)
		}
	}
	return own, errs
}

func (cv *converter) source(c *Container, label string) dynamic.Source {
	return dynamic.Source{Provider: "docker", Container: c.Name, ContainerID: c.ID, Label: label}
}

// checkCaps refuses a container whose labels under the prefix are too many or too large.
func (cv *converter) checkCaps(c *Container, own ownLabels) *dynamic.Error {
	if own.configKeys > cv.maxLabels {
		return &dynamic.Error{Source: cv.source(c, ""), Msg: fmt.Sprintf(
			"has %d labels under %q, more than the limit of %d; the container is skipped",
			own.configKeys, cv.prefix, cv.maxLabels)}
	}
	all := own.config
	if own.enable != nil {
		all = append(all[:len(all):len(all)], *own.enable)
	}
	if own.network != nil {
		all = append(all[:len(all):len(all)], *own.network)
	}
	total := 0
	for _, d := range all {
		if len(d.Value) > cv.maxValue {
			return &dynamic.Error{Source: d.Src, Msg: fmt.Sprintf(
				"value is %d bytes, more than the limit of %d; the container is skipped", len(d.Value), cv.maxValue)}
		}
		total += len(d.Key) + len(d.Value)
	}
	if total > DefaultMaxTotalBytes {
		return &dynamic.Error{Source: cv.source(c, ""), Msg: fmt.Sprintf(
			"has %d bytes of labels under %q, more than the limit of %d; the container is skipped",
			total, cv.prefix, DefaultMaxTotalBytes)}
	}
	return nil
}

// enabled applies <prefix>.enable and exposedByDefault. An unreadable value is an error and
// the container is skipped: guessing either way could expose or hide a service by mistake.
func (cv *converter) enabled(own ownLabels) (bool, *dynamic.Error) {
	if own.enable == nil {
		return cv.opts.ExposedByDefault, nil
	}
	on, err := strconv.ParseBool(strings.TrimSpace(own.enable.Value))
	if err != nil {
		return false, &dynamic.Error{Source: own.enable.Src, Value: own.enable.Value, HasVal: true,
			Msg: "not a boolean (write true or false); the container is skipped"}
	}
	return on, nil
}

// decodeTree decodes the label tree section by section and item by item, so that a mistake
// in one router, service or middleware drops that item alone and the container's other
// items still work.
func decodeTree(root *dynamic.Node) (*dynamic.Configuration, dynamic.Errors) {
	cfg := &dynamic.Configuration{HTTP: &dynamic.HTTPConfiguration{
		Routers:     map[string]*dynamic.Router{},
		Services:    map[string]*dynamic.Service{},
		Middlewares: map[string]*dynamic.Middleware{},
	}}
	var errs dynamic.Errors
	for _, e := range root.Entries {
		if err := strayValue(e.Value, e.Key); err != nil {
			errs = append(errs, err)
		}
		switch strings.ToLower(e.Key) {
		case "http":
			errs = append(errs, decodeHTTP(e.Value, cfg.HTTP)...)
		case "tcp":
			cfg.TCP = &dynamic.TCPConfiguration{Routers: map[string]*dynamic.TCPRouter{},
				Services: map[string]*dynamic.TCPService{}, Middlewares: map[string]*dynamic.Middleware{}}
			errs = append(errs, decodeSections(e.Value, "tcp", map[string]func(*dynamic.Node, string) dynamic.Errors{
				"routers":     func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, cfg.TCP.Routers) },
				"services":    func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, cfg.TCP.Services) },
				"middlewares": func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, cfg.TCP.Middlewares) },
			})...)
		case "udp":
			cfg.UDP = &dynamic.UDPConfiguration{Routers: map[string]*dynamic.UDPRouter{}, Services: map[string]*dynamic.UDPService{}}
			errs = append(errs, decodeSections(e.Value, "udp", map[string]func(*dynamic.Node, string) dynamic.Errors{
				"routers":  func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, cfg.UDP.Routers) },
				"services": func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, cfg.UDP.Services) },
			})...)
		case "tls":
			errs = append(errs, &dynamic.Error{Source: e.Value.Src, Path: e.Key,
				Msg: "TLS options, stores and certificates cannot be set from labels; declare them in the file provider and name them from a router (tls.options=name@file)"})
		default:
			errs = append(errs, &dynamic.Error{Source: e.Value.Src, Path: e.Key, Msg: fmt.Sprintf("unknown key %q%s",
				e.Key, dynamic.DidYouMean(e.Key, []string{"enable", "http", "tcp", "udp", "docker"}))})
		}
	}
	return cfg, errs
}

func decodeHTTP(n *dynamic.Node, h *dynamic.HTTPConfiguration) dynamic.Errors {
	return decodeSections(n, "http", map[string]func(*dynamic.Node, string) dynamic.Errors{
		"routers":     func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, h.Routers) },
		"services":    func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, h.Services) },
		"middlewares": func(n *dynamic.Node, p string) dynamic.Errors { return decodeItems(n, p, h.Middlewares) },
		"serverstransports": func(n *dynamic.Node, p string) dynamic.Errors {
			return dynamic.Errors{{Source: n.Src, Path: p,
				Msg: "servers transports cannot be declared in labels; declare them in the file provider and name them (serverstransport=name@file)"}}
		},
	})
}

// decodeSections dispatches the keys of one protocol section (routers, services, ...).
func decodeSections(n *dynamic.Node, path string, sections map[string]func(*dynamic.Node, string) dynamic.Errors) dynamic.Errors {
	if n.Kind != dynamic.Map {
		return dynamic.Errors{{Source: n.Src, Path: path, Value: n.Value, HasVal: n.Kind == dynamic.Scalar,
			Msg: "expected routers, services or middlewares below this key"}}
	}
	names := make([]string, 0, len(sections))
	for k := range sections {
		if k != "serverstransports" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var errs dynamic.Errors
	for _, e := range n.Entries {
		p := path + "." + e.Key
		if err := strayValue(e.Value, p); err != nil {
			errs = append(errs, err)
		}
		if f := sections[strings.ToLower(e.Key)]; f != nil {
			errs = append(errs, f(e.Value, p)...)
			continue
		}
		errs = append(errs, &dynamic.Error{Source: e.Value.Src, Path: p,
			Msg: fmt.Sprintf("unknown key %q%s", e.Key, dynamic.DidYouMean(e.Key, names))})
	}
	return errs
}

// decodeItems decodes each named item on its own: an item with any error is left out of
// out, and its errors are returned.
func decodeItems[T any](n *dynamic.Node, path string, out map[string]*T) dynamic.Errors {
	if n.Kind != dynamic.Map {
		return dynamic.Errors{{Source: n.Src, Path: path, Value: n.Value, HasVal: n.Kind == dynamic.Scalar,
			Msg: "expected a name below this key, as in " + path + ".<name>.<option>"}}
	}
	var errs dynamic.Errors
	for _, e := range n.Entries {
		v := new(T)
		es := dynamic.DecodeAt(e.Value, v, path+"."+e.Key)
		if err := strayValue(e.Value, path+"."+e.Key); err != nil {
			es = append(dynamic.Errors{err}, es...)
		}
		if len(es) > 0 {
			for _, err := range es {
				err.Msg += fmt.Sprintf(" (%s %q is left out)", itemKind(path), e.Key)
			}
			errs = append(errs, es...)
			continue
		}
		out[e.Key] = v
	}
	return errs
}

// itemKind names what a section holds, for messages: "http.routers" -> "router",
// "tcp.services" -> "tcp service".
func itemKind(path string) string {
	proto, section, _ := strings.Cut(strings.ToLower(path), ".")
	section = strings.TrimSuffix(section, "s")
	if proto == "http" {
		return section
	}
	return proto + " " + section
}

// strayValue reports `wharf.http=x` beside `wharf.http.routers...`: a key that only groups
// others has no value, and silently ignoring one would hide a typo.
func strayValue(n *dynamic.Node, path string) *dynamic.Error {
	if n.Kind != dynamic.Map || n.Value == "" {
		return nil
	}
	return &dynamic.Error{Source: n.Src, Path: path, Value: n.Value, HasVal: true,
		Msg: "this key only groups the keys below it and takes no value"}
}
