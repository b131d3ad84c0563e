package docker

import (
	"sort"
	"strconv"
	"strings"
)

// Container is what the provider knows about one container: the few fields of the engine's
// inspect answer that routing needs. It is wharf's own type so that engine SDK types never
// leave this package, and so that golden tests can write containers as plain JSON.
type Container struct {
	// ruleMemo keeps the default rule computed for this container during one conversion:
	// every router without a rule gets the same one, and building it copies every label.
	ruleMemo *ruleMemo

	ID     string            `json:"id"`
	Name   string            `json:"name"` // without the leading "/"
	Labels map[string]string `json:"labels,omitempty"`
	// State is the engine's state: "running", "paused", "exited", ... Only running
	// containers are served.
	State string `json:"state"`
	// Health is the health check status: "" (no health check), "starting", "healthy" or
	// "unhealthy". Only "" and "healthy" are served.
	Health string `json:"health,omitempty"`
	// NetworkMode is the engine's HostConfig.NetworkMode: "bridge", "host", "none",
	// "default", a network name, or "container:<id>" (which the provider resolves to the
	// other container's networks before conversion).
	NetworkMode string `json:"networkMode,omitempty"`
	// Networks maps the name of every network the container is attached to to its
	// addresses on it.
	Networks map[string]Network `json:"networks,omitempty"`
	// ExposedPorts lists exposed ports in the engine's "80/tcp" form.
	ExposedPorts []string `json:"exposedPorts,omitempty"`
	// PublishedPorts lists ports published on the host (-p). They are carried for a later
	// "use the published port" option; addresses are chosen from Networks today.
	PublishedPorts []PublishedPort `json:"publishedPorts,omitempty"`
}

// Network is a container's attachment to one network.
type Network struct {
	IP      string `json:"ip,omitempty"`
	IPv6    string `json:"ipv6,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// PublishedPort is a container port bound on the host.
type PublishedPort struct {
	ContainerPort string `json:"containerPort"` // "80/tcp"
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      string `json:"hostPort"`
}

// address returns the address to dial on this network: IPv4 when there is one, else IPv6.
func (n Network) address() string {
	if n.IP != "" {
		return n.IP
	}
	return n.IPv6
}

// running reports whether the engine says the container runs (paused containers do not
// answer, so they are not running for wharf).
func (c *Container) running() bool { return c.State == "running" }

// healthy reports whether the health check, if any, lets the container take traffic.
func (c *Container) healthy() bool { return c.Health == "" || c.Health == "healthy" }

// label returns a label by exact key (compose labels are always written the same way).
func (c *Container) label(key string) string { return c.Labels[key] }

// networkNames lists the networks the container has an address on, sorted, so that every
// choice among them is deterministic.
func (c *Container) networkNames() []string {
	names := make([]string, 0, len(c.Networks))
	for name, n := range c.Networks {
		if n.address() != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// allNetworkNames lists every attached network, with or without an address, for messages.
func (c *Container) allNetworkNames() []string {
	names := make([]string, 0, len(c.Networks))
	for name := range c.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ports returns the exposed ports of one protocol, ascending.
func (c *Container) ports(proto string) []int {
	var out []int
	for _, p := range c.ExposedPorts {
		num, pr, _ := strings.Cut(p, "/")
		if pr == "" {
			pr = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || !strings.EqualFold(pr, proto) {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// Compose labels name the service and project of a container started by docker compose.
const (
	composeService = "com.docker.compose.service"
	composeProject = "com.docker.compose.project"
)
