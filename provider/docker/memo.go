package docker

import (
	"maps"
	"slices"
	"sync"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// memo keeps each container's converted part between conversions, so that a relist after
// one container changed converts that container alone: at 10,000 containers converting all
// of them took hundreds of milliseconds, comparing them with what was converted takes a few.
//
// A part is reused only when everything conversion reads is unchanged: the container (a
// copy of it is kept and compared field by field, so a label map changed in place is
// noticed) and wharf's own container, which decides the network. The options are fixed
// per converter. Parts are shared between the configurations of successive conversions,
// which is safe because nothing changes a configuration after it is returned (see
// provider.Message). The merge of the parts runs every time, so conflicts between
// containers are found as before, and the errors of unchanged containers are reported
// again, as copies.
type memo struct {
	mu    sync.Mutex
	self  *Container       // copy of the Self the parts were converted with
	parts map[string]*part // by container ID: the containers of the last conversion
	// merged are the last conversion's merges by kind and name, with the parts' items
	// they were made from: a name whose items are the same ones merges the same way.
	merged map[string]merged
	// The same for the conversion under way; they replace the above in end.
	nextParts  map[string]*part
	nextMerged map[string]merged
}

// merged is the merge of one name's definitions.
type merged struct {
	from []any          // the definitions, in order: the items of the parts
	v    any            // the merged item; nil when they conflict
	err  *dynamic.Error // the conflict
}

// part is one container's conversion: nil cfg when the container is not served.
type part struct {
	in   Container // copy of the container as converted
	cfg  *dynamic.Configuration
	errs dynamic.Errors
}

func newMemo() *memo { return &memo{parts: map[string]*part{}, merged: map[string]merged{}} }

// begin starts a conversion; the memo is locked until end. A different wharf container
// makes every part stale.
func (m *memo) begin(self *Container) {
	m.mu.Lock()
	m.nextParts = make(map[string]*part, len(m.parts))
	m.nextMerged = make(map[string]merged, len(m.merged))
	if self == nil && m.self == nil || self != nil && m.self != nil && sameContainer(self, m.self) {
		return
	}
	m.self = nil
	if self != nil {
		m.self = copyContainer(self)
	}
	clear(m.parts)
	clear(m.merged)
}

// lookup returns the part converted from a container equal to c, or nil.
func (m *memo) lookup(c *Container) *part {
	if p := m.parts[c.ID]; p != nil && sameContainer(c, &p.in) {
		return p
	}
	return nil
}

// keep records a part of the conversion under way.
func (m *memo) keep(id string, p *part) { m.nextParts[id] = p }

// end replaces the memo's parts and merges with those of the conversion that just ran, so
// containers and names that are gone are forgotten, and unlocks it.
func (m *memo) end() {
	m.parts, m.merged = m.nextParts, m.nextMerged
	m.nextParts, m.nextMerged = nil, nil
	m.mu.Unlock()
}

// errors returns copies of the part's errors: callers may annotate what they are given.
func (p *part) errors() dynamic.Errors {
	if len(p.errs) == 0 {
		return nil
	}
	out := make(dynamic.Errors, len(p.errs))
	for i, e := range p.errs {
		c := *e
		out[i] = &c
	}
	return out
}

// copyContainer copies everything conversion reads, deeply, without the rule memo.
func copyContainer(c *Container) *Container {
	return &Container{ID: c.ID, Name: c.Name, Labels: maps.Clone(c.Labels), State: c.State, Health: c.Health,
		NetworkMode: c.NetworkMode, Networks: maps.Clone(c.Networks),
		ExposedPorts: slices.Clone(c.ExposedPorts), PublishedPorts: slices.Clone(c.PublishedPorts)}
}

// sameContainer reports whether conversion would read the same from a and b.
// TestSameContainerSeesEveryField fails when Container gains a field it does not compare.
func sameContainer(a, b *Container) bool {
	return a.ID == b.ID && a.Name == b.Name && a.State == b.State && a.Health == b.Health &&
		a.NetworkMode == b.NetworkMode && maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Networks, b.Networks) &&
		slices.Equal(a.ExposedPorts, b.ExposedPorts) && slices.Equal(a.PublishedPorts, b.PublishedPorts)
}

// Converter converts containers as Convert does, remembering each container's conversion
// between calls: a call after a relist converts only the containers that changed (see
// memo). Its results share parts with earlier ones, which callers must not modify. The
// provider holds one; so can a program that converts the same host's containers repeatedly.
type Converter struct{ cv *converter }

// NewConverter returns a Converter for opts; opts.Self is ignored (each call gives it).
func NewConverter(opts ConvertOptions) (*Converter, error) {
	opts.Self = nil
	cv, err := newConverter(opts)
	if err != nil {
		return nil, err
	}
	cv.memo = newMemo()
	return &Converter{cv: cv}, nil
}

// Convert converts containers, with self as wharf's own container (nil: not in one).
func (c *Converter) Convert(containers []Container, self *Container) (*dynamic.Configuration, dynamic.Errors) {
	cv := *c.cv
	cv.opts.Self = self
	return cv.convert(containers)
}
