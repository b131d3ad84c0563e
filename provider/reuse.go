package provider

import (
	"reflect"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// qualified keeps, for one provider, the qualified copy Merge made of each router and
// service, by the item it was made from. A provider never changes an item after sending it
// (see Message), and a provider that keeps an unchanged item between messages (the Docker
// provider keeps unchanged containers' items) then gets the same copy back: no copying, and
// the comparison with the previous snapshot sees one pointer. A nil *qualified copies every
// time.
type qualified struct {
	prev     *qualified
	routers  map[*dynamic.Router]*dynamic.Router
	services map[*dynamic.Service]*dynamic.Service
}

func (q *qualified) init(routers, services int) {
	if q == nil {
		return
	}
	if q.routers == nil {
		q.routers = make(map[*dynamic.Router]*dynamic.Router, routers)
	}
	if q.services == nil {
		q.services = make(map[*dynamic.Service]*dynamic.Service, services)
	}
}

func (q *qualified) router(r *dynamic.Router, provider string) *dynamic.Router {
	if q == nil {
		return qualifyRouter(r, provider)
	}
	c, ok := q.routers[r]
	if !ok && q.prev != nil {
		c, ok = q.prev.routers[r]
	}
	if !ok {
		c = qualifyRouter(r, provider)
	}
	q.routers[r] = c
	return c
}

func (q *qualified) service(s *dynamic.Service, provider string) *dynamic.Service {
	if q == nil {
		return qualifyService(s, provider)
	}
	c, ok := q.services[s]
	if !ok && q.prev != nil {
		c, ok = q.prev.services[s]
	}
	if !ok {
		c = qualifyService(s, provider)
	}
	q.services[s] = c
	return c
}

// sameSnapshot is reflect.DeepEqual(a, b), quicker where the snapshots share items: the
// named items are compared one by one, and an item both hold is equal without a look
// inside. TestSameSnapshotIsDeepEqual holds it to DeepEqual.
func sameSnapshot(a, b *Snapshot) bool {
	if !reflect.DeepEqual(a.Errors, b.Errors) {
		return false
	}
	ca, cb := a.Config, b.Config
	if ca == nil || cb == nil {
		return ca == cb
	}
	if !sameHTTP(ca.HTTP, cb.HTTP) {
		return false
	}
	ra, rb := *ca, *cb
	ra.HTTP, rb.HTTP = nil, nil
	return reflect.DeepEqual(ra, rb)
}

func sameHTTP(a, b *dynamic.HTTPConfiguration) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !sameItems(a.Routers, b.Routers) || !sameItems(a.Services, b.Services) ||
		!sameItems(a.Middlewares, b.Middlewares) || !sameItems(a.ServersTransports, b.ServersTransports) {
		return false
	}
	ra, rb := *a, *b
	ra.Routers, rb.Routers, ra.Services, rb.Services = nil, nil, nil, nil
	ra.Middlewares, rb.Middlewares, ra.ServersTransports, rb.ServersTransports = nil, nil, nil, nil
	return reflect.DeepEqual(ra, rb)
}

func sameItems[V any](a, b map[string]*V) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || va != vb && !reflect.DeepEqual(va, vb) {
			return false
		}
	}
	return true
}
