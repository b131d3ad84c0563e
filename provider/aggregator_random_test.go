package provider

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func TestAggregatorEqualsMerge(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		pool := map[string][]*dynamic.Router{}
		item := func() *dynamic.Router {
			rt := &dynamic.Router{Rule: fmt.Sprintf("Host(`%d.test`)", r.IntN(3)), Service: "s", Middlewares: []string{"m"}}
			if r.IntN(3) == 0 {
				rt.TLS = &dynamic.RouterTLS{Options: "o"}
			}
			return rt
		}
		for _, p := range []string{"docker", "file"} {
			for i := 0; i < 4; i++ {
				pool[p] = append(pool[p], item())
			}
		}
		a := NewAggregator()
		latest := map[string]Message{}
		var last *Snapshot
		for step := 0; step < 20; step++ {
			p := []string{"docker", "file"}[r.IntN(2)]
			if r.IntN(3) == 0 {
				pool[p][r.IntN(4)] = item()
			}
			cfg := dynamic.NewConfiguration()
			for i, rt := range pool[p] {
				if r.IntN(4) != 0 {
					name := fmt.Sprintf("r%d", i)
					if r.IntN(10) == 0 {
						name += "@x"
					}
					cfg.HTTP.Routers[name] = rt
				}
			}
			var errs dynamic.Errors
			if r.IntN(3) == 0 {
				errs = dynamic.Errors{{Msg: fmt.Sprint(r.IntN(2))}}
			}
			m := Message{Provider: p, Config: cfg, Errors: errs}
			if r.IntN(4) == 0 && latest[p].Config != nil {
				m = latest[p] // the same message again
			}
			latest[p] = m
			a.Update(m)
			s, changed := a.Merge()
			want := Merge(a.sortedMessages())
			if !reflect.DeepEqual(s, want) {
				t.Fatalf("seed %d step %d: snapshot differs from a fresh merge:\n%v\n%v\n%#v", seed, step, s.Errors, want.Errors, sameHTTP(s.Config.HTTP, want.Config.HTTP))
			}
			if last != nil && changed == reflect.DeepEqual(last, want) {
				t.Fatalf("seed %d step %d: changed=%v", seed, step, changed)
			}
			last = want
		}
	}
}
