package docker

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The default rule template reads labels; the container is the same struct from call to
// call (as with Converter.Convert over one slice), one label changes.
func TestConverterDefaultRuleFollowsLabels(t *testing.T) {
	opts := ConvertOptions{DefaultRule: "Host(`{{ index .Labels \"host\" }}`)"}
	conv, err := NewConverter(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := Container{ID: "id-a", Name: "a", State: "running", ExposedPorts: []string{"80/tcp"},
		Networks: map[string]Network{"bridge": {IP: "172.17.0.2"}},
		Labels:   map[string]string{"wharf.enable": "true", "host": "one.test"}}
	list := []Container{c}
	conv.Convert(list, nil)
	list[0].Labels = maps.Clone(list[0].Labels)
	list[0].Labels["host"] = "two.test"
	got := renderGolden(conv.Convert(list, nil))
	want := fresh(t, []Container{{ID: c.ID, Name: c.Name, State: c.State, ExposedPorts: c.ExposedPorts, Networks: c.Networks, Labels: list[0].Labels}}, opts)
	if !bytes.Equal(got, want) {
		t.Errorf("memoized:\n%s\nfresh:\n%s", got, want)
	}
}

func TestConverterRandomSequencesEqualFresh(t *testing.T) {
	selves := []*Container{nil,
		{ID: "self1", Name: "wharf", State: "running", Networks: map[string]Network{"front": {IP: "10.0.1.9", Gateway: "10.0.1.1"}}},
		{ID: "self1", Name: "wharf", State: "running", Networks: map[string]Network{"back": {IP: "10.0.2.9", Gateway: "10.0.2.1"}}},
	}
	mk := func(r *rand.Rand, i int) Container {
		c := Container{ID: fmt.Sprintf("id%02d", i), Name: fmt.Sprintf("c%d", r.IntN(4)), State: "running",
			ExposedPorts: []string{"80/tcp"},
			Networks:     map[string]Network{"front": {IP: fmt.Sprintf("10.0.1.%d", i+10)}, "back": {IP: fmt.Sprintf("10.0.2.%d", i+10)}},
			Labels: map[string]string{"wharf.enable": "true",
				"com.docker.compose.service": "web", "com.docker.compose.project": fmt.Sprintf("p%d", r.IntN(2))}}
		if r.IntN(4) == 0 {
			c.Health = "unhealthy"
		}
		if r.IntN(5) == 0 {
			c.State = "exited"
		}
		if r.IntN(3) == 0 {
			c.Labels["wharf.http.routers.shared.rule"] = fmt.Sprintf("Host(`s%d.test`)", r.IntN(2))
			c.Labels["wharf.http.routers.shared.service"] = "shared"
			c.Labels["wharf.http.services.shared.loadbalancer.server.port"] = fmt.Sprint(80 + r.IntN(2))
		}
		if r.IntN(4) == 0 {
			c.Labels["wharf.http.middlewares.mw.stripprefix.prefixes"] = fmt.Sprintf("/p%d", r.IntN(2))
		}
		if r.IntN(6) == 0 {
			c.Labels["wharf.http.routers.bad.priority"] = "high"
		}
		if r.IntN(6) == 0 {
			c.NetworkMode = "host"
		}
		return c
	}
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		for _, opts := range []ConvertOptions{{}, {AllowEmptyServices: true, Network: "back"}} {
			conv, _ := NewConverter(opts)
			pool := make([]Container, 8)
			for i := range pool {
				pool[i] = mk(r, i)
			}
			for step := 0; step < 15; step++ {
				// change a few containers, drop some, shuffle
				for k := r.IntN(3); k > 0; k-- {
					i := r.IntN(len(pool))
					pool[i] = mk(r, i)
				}
				var list []Container
				for _, c := range pool {
					if r.IntN(5) != 0 {
						list = append(list, c)
					}
				}
				r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
				self := selves[r.IntN(len(selves))]
				gc, ge := conv.Convert(list, self)
				got := renderGolden(gc, ge)
				o := opts
				o.Self = self
				cv, _ := newConverter(o)
				wc, we := cv.convert(append([]Container(nil), list...))
				want := renderGolden(wc, we)
				if !bytes.Equal(got, want) || !reflect.DeepEqual(gc, wc) || !reflect.DeepEqual(ge, we) {
					t.Fatalf("seed %d step %d: memoized\n%s\nfresh\n%s", seed, step, got, want)
				}
			}
		}
	}
}

func TestConverterConcurrentConvert(t *testing.T) {
	conv, _ := NewConverter(ConvertOptions{})
	self := &Container{ID: "self", Name: "wharf", State: "running", Networks: map[string]Network{"bridge": {IP: "172.17.0.9"}}}
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				list := []Container{memoContainer("a"), memoContainer("b")}
				list[1].Labels["wharf.http.routers.a.rule"] = "Host(`a.test`)"
				s := self
				if (g+i)%3 == 0 {
					s = nil
				}
				cfg, errs := conv.Convert(list, s)
				_ = renderGolden(cfg, errs)
				for _, e := range errs {
					e.Msg += "x"
				}
			}
			done <- true
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
