package router

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func TestCompileRulesConcurrent(t *testing.T) {
	opts := Options{EntryPoints: []EntryPoint{{Name: "web"}}, Log: zerolog.Nop()}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				cfg := dynamic.NewConfiguration()
				cfg.HTTP.Routers["r@file"] = &dynamic.Router{Rule: fmt.Sprintf("Host(`a%d.test`) || PathPrefix(`/%d`)", i%3, g), Service: "s@file"}
				cfg.HTTP.Routers["bad@file"] = &dynamic.Router{Rule: fmt.Sprintf("Host(`a%d", i%2), Service: "s@file"}
				cfg.HTTP.Services["s@file"] = &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: "http://127.0.0.1:9"}}}}
				tab, errs := Compile(cfg, nil, opts)
				lastRules.set(nil)
				tab2, errs2 := Compile(cfg, nil, opts)
				if !reflect.DeepEqual(errs, errs2) || !reflect.DeepEqual(tab.Info().Routers, tab2.Info().Routers) {
					t.Errorf("differs with and without the rule cache")
				}
				tab.Close()
				tab2.Close()
			}
		}()
	}
	wg.Wait()
}
