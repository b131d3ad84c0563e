package router

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/rule"
	"github.com/wharfproxy/wharf/router/upstream"
)

// reloadConfig is n routers, each with its own service, as in the reload benchmark of
// integration/bench; gen changes the rule of router r0.
func reloadConfig(n, gen int) *dynamic.Configuration {
	cfg := dynamic.NewConfiguration()
	for i := range n {
		rule := fmt.Sprintf("Host(`r%d.test`)", i)
		if i == 0 {
			rule = fmt.Sprintf("Host(`probe-%d.test`)", gen)
		}
		cfg.HTTP.Routers[fmt.Sprintf("r%d@file", i)] = &dynamic.Router{Rule: rule, Service: fmt.Sprintf("s%d@file", i)}
		cfg.HTTP.Services[fmt.Sprintf("s%d@file", i)] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{
			Servers: []dynamic.Server{{URL: "http://127.0.0.1:9"}}}}
	}
	return cfg
}

func routeOf(t *Table, name string) *route {
	for _, rt := range t.eps[0].plain.exact {
		for _, r := range rt {
			if r.name == name {
				return r
			}
		}
	}
	return nil
}

func TestCompileReusesRulesByText(t *testing.T) {
	a, errs := Compile(reloadConfig(3, 1), nil, opts())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	defer a.Close()
	b, errs := Compile(reloadConfig(3, 2), nil, opts())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	defer b.Close()
	if routeOf(a, "r1@file").rule != routeOf(b, "r1@file").rule {
		t.Error("an unchanged rule was parsed again")
	}
	if got := routeOf(b, "r0@file").rule.String(); got != "Host(`probe-2.test`)" {
		t.Errorf("changed rule = %s; want the new one", got)
	}
	if tab := b.match(0, false, reqFor("probe-2.test")); tab == nil || tab.name != "r0@file" {
		t.Errorf("probe-2.test matched %v; want r0@file", tab)
	}
	if tab := b.match(0, false, reqFor("probe-1.test")); tab != nil {
		t.Errorf("probe-1.test matched %s; want nothing after the change", tab.name)
	}
}

// BenchmarkCompile is one rebuild after one rule changed, with 1,000 and 10,000 routers each
// with its own service: the compile half of a reload.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routers=%d", n), func(b *testing.B) {
			o := Options{EntryPoints: []EntryPoint{{Name: "web"}}, Transports: upstream.NewTransports(),
				Health: upstream.NewHealthStore(), Log: zerolog.Nop()}
			cfgs := []*dynamic.Configuration{reloadConfig(n, 0), reloadConfig(n, 1)}
			prev, _ := Compile(cfgs[0], nil, o)
			gen := 0
			b.ReportAllocs()
			for b.Loop() {
				gen++
				t, errs := Compile(cfgs[gen%2], nil, o)
				if len(errs) > 0 {
					b.Fatal(errs)
				}
				prev.Close()
				prev = t
			}
			prev.Close()
		})
	}
}

func reqFor(host string) *rule.Request {
	return &rule.Request{Host: host, Path: "/", Method: "GET", Header: http.Header{}}
}
