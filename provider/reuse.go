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
	return reuseCopy(q.routers, q.prev.routersOrNil(), r, provider, qualifyRouter)
}

func (q *qualified) service(s *dynamic.Service, provider string) *dynamic.Service {
	if q == nil {
		return qualifyService(s, provider)
	}
	return reuseCopy(q.services, q.prev.servicesOrNil(), s, provider, qualifyService)
}

func (q *qualified) routersOrNil() map[*dynamic.Router]*dynamic.Router {
	if q == nil {
		return nil
	}
	return q.routers
}

func (q *qualified) servicesOrNil() map[*dynamic.Service]*dynamic.Service {
	if q == nil {
		return nil
	}
	return q.services
}

// reuseCopy returns the qualified copy of item made by this merge or the last one, or makes
// it; either way it is recorded in cur for the next merge.
func reuseCopy[T any](cur, prev map[*T]*T, item *T, provider string, qualify func(*T, string) *T) *T {
	c, ok := cur[item]
	if !ok {
		c, ok = prev[item] // a nil map reads as empty
	}
	if !ok {
		c = qualify(item, provider)
	}
	cur[item] = c
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
