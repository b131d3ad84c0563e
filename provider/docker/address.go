package docker

import (
	"fmt"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// target is where a container's servers point: an IP address, or the reason there is none.
type target struct {
	ip   string         // "" when unreachable
	errs dynamic.Errors // why it is unreachable, or warnings about the choice
}

// chooseTarget picks the address wharf dials for a container, in the order LABELS.md gives:
// the network named by label or option, a network shared with wharf's own container, the
// first network by name. Every choice is deterministic: map order never decides.
func (cv *converter) chooseTarget(c *Container, netLabel *dynamic.Dotted) target {
	src := cv.source(c, "")
	mode := c.NetworkMode
	switch {
	case mode == "host":
		return cv.hostTarget(c)
	case mode == "none":
		return unreachable(src, `its network mode is "none"`)
	}
	names := c.networkNames()
	var t target
	want, fromLabel := cv.opts.Network, netLabel != nil && strings.TrimSpace(netLabel.Value) != ""
	if fromLabel {
		want = strings.TrimSpace(netLabel.Value)
	}
	if want != "" {
		// Compose prefixes network names with the project; accept the short name too.
		for _, candidate := range []string{want, c.label(composeProject) + "_" + want} {
			if n, ok := c.Networks[candidate]; ok && n.address() != "" {
				return target{ip: n.address()}
			}
		}
		warn := &dynamic.Error{Source: src, Warning: true, Msg: fmt.Sprintf(
			"the provider's network option names %q, but the container has no address on it; it is on %s",
			want, quoteList(c.allNetworkNames()))}
		if fromLabel {
			warn = &dynamic.Error{Source: netLabel.Src, Value: netLabel.Value, HasVal: true, Warning: true,
				Msg: "the container has no address on this network; it is on " + quoteList(c.allNetworkNames())}
		}
		t.errs = append(t.errs, warn)
	}
	if len(names) == 0 {
		u := unreachable(src, fmt.Sprintf("it has no IP address on its networks (%s)", quoteList(c.allNetworkNames())))
		u.errs = append(t.errs, u.errs...)
		return u
	}
	if shared := cv.sharedNetwork(names); shared != "" {
		t.ip = c.Networks[shared].address()
		return t
	}
	if len(names) > 1 {
		t.errs = append(t.errs, &dynamic.Error{Source: src, Warning: true, Msg: fmt.Sprintf(
			"is on several networks (%s) and none is chosen; using %q. Set the label %sdocker.network or the provider's network option",
			quoteList(names), names[0], cv.prefix)})
	}
	t.ip = c.Networks[names[0]].address()
	return t
}

// sharedNetwork returns the first network (by name) that wharf's own container is also on.
func (cv *converter) sharedNetwork(names []string) string {
	self := cv.opts.Self
	if self == nil || self.NetworkMode == "host" {
		return ""
	}
	for _, n := range names {
		if sn, ok := self.Networks[n]; ok && sn.address() != "" {
			return n
		}
	}
	return ""
}

// hostTarget is the address of a host-network container as wharf sees it: loopback when
// wharf runs on the host (or on the host network), else the gateway of wharf's own network,
// which is the host from inside a bridge network.
func (cv *converter) hostTarget(c *Container) target {
	self := cv.opts.Self
	if self == nil || self.NetworkMode == "host" {
		return target{ip: "127.0.0.1"}
	}
	for _, n := range self.networkNames() {
		if gw := self.Networks[n].Gateway; gw != "" {
			return target{ip: gw}
		}
	}
	return unreachable(cv.source(c, ""), fmt.Sprintf(
		"it uses the host network, and wharf's own container %q has no gateway to reach the host through", self.Name))
}

func unreachable(src dynamic.Source, why string) target {
	return target{errs: dynamic.Errors{{Source: src, Msg: "cannot be reached: " + why +
		"; its services are kept without servers and answer 503"}}}
}

// detectPort is the port of a service that does not name one: the single exposed TCP port,
// else the lowest one.
func detectPort(c *Container, proto string) (int, bool) {
	ports := c.ports(proto)
	if len(ports) == 0 {
		return 0, false
	}
	return ports[0], true
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
