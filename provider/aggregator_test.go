package provider

import (
	"reflect"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

func config(routers map[string]*dynamic.Router, services map[string]*dynamic.Service) *dynamic.Configuration {
	c := dynamic.NewConfiguration()
	c.HTTP.Routers, c.HTTP.Services = routers, services
	return c
}

func TestAggregatorMerge(t *testing.T) {
	r1 := &dynamic.Router{Rule: "Host(`a.test`)", Service: "a"}
	r2 := &dynamic.Router{Rule: "Host(`b.test`)", Service: "b", Middlewares: []string{"m", "n@file"}}
	s1 := &dynamic.Service{LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: "http://10.0.0.1"}}}}
	agg := NewAggregator()
	agg.Update(Message{Provider: "docker", Config: config(map[string]*dynamic.Router{"a": r1, "b": r2}, map[string]*dynamic.Service{"a": s1})})
	first, changed := agg.Merge()
	if !changed {
		t.Fatal("first merge: unchanged")
	}
	if got := first.Config.HTTP.Routers["b@docker"].Middlewares; !reflect.DeepEqual(got, []string{"m@docker", "n@file"}) {
		t.Errorf("middlewares %q; want them qualified", got)
	}
	if s, changed := agg.Merge(); changed || s != first {
		t.Error("the same messages again: changed")
	}
	// An equal message that is a new value: unchanged, and the snapshot is the first one.
	agg.Update(Message{Provider: "docker", Config: config(map[string]*dynamic.Router{"a": r1, "b": r2}, map[string]*dynamic.Service{"a": s1})})
	if s, changed := agg.Merge(); changed || s != first {
		t.Error("an equal message: changed")
	}
	// One router changed: the new snapshot has it, and the copies of the others are reused.
	r1b := &dynamic.Router{Rule: "Host(`new.test`)", Service: "a"}
	agg.Update(Message{Provider: "docker", Config: config(map[string]*dynamic.Router{"a": r1b, "b": r2}, map[string]*dynamic.Service{"a": s1})})
	second, changed := agg.Merge()
	if !changed {
		t.Fatal("a changed router: unchanged")
	}
	if got := second.Config.HTTP.Routers["a@docker"].Rule; got != r1b.Rule {
		t.Errorf("rule %q; want %q", got, r1b.Rule)
	}
	if second.Config.HTTP.Routers["b@docker"] != first.Config.HTTP.Routers["b@docker"] ||
		second.Config.HTTP.Services["a@docker"] != first.Config.HTTP.Services["a@docker"] {
		t.Error("the copies of unchanged items were not reused")
	}
	// A router removed disappears.
	agg.Update(Message{Provider: "docker", Config: config(map[string]*dynamic.Router{"b": r2}, map[string]*dynamic.Service{"a": s1})})
	third, changed := agg.Merge()
	if _, ok := third.Config.HTTP.Routers["a@docker"]; !changed || ok {
		t.Errorf("changed %v, router a still there: %v", changed, ok)
	}
	// The same item sent by another provider is qualified for that provider.
	agg.Update(Message{Provider: "file", Config: config(map[string]*dynamic.Router{"b": r2}, nil)})
	fourth, _ := agg.Merge()
	if got := fourth.Config.HTTP.Routers["b@file"].Middlewares; !reflect.DeepEqual(got, []string{"m@file", "n@file"}) {
		t.Errorf("middlewares of b@file %q; want them qualified for file", got)
	}
	// Errors alone make a change.
	agg.Update(Message{Provider: "file", Config: config(map[string]*dynamic.Router{"b": r2}, nil),
		Errors: dynamic.Errors{{Msg: "x"}}})
	if _, changed := agg.Merge(); !changed {
		t.Error("a new error: unchanged")
	}
}

func TestSameSnapshotIsDeepEqual(t *testing.T) {
	base := func() *Snapshot {
		c := config(map[string]*dynamic.Router{"a@file": {Rule: "Host(`a`)", Service: "s@file"}},
			map[string]*dynamic.Service{"s@file": {LoadBalancer: &dynamic.LoadBalancer{Servers: []dynamic.Server{{URL: "http://x"}}}}})
		c.HTTP.Middlewares["m@file"] = &dynamic.Middleware{Type: "stripPrefix"}
		c.HTTP.ServersTransports = map[string]*dynamic.ServersTransport{"t@file": {ServerName: "x"}}
		return &Snapshot{Config: c, Errors: dynamic.Errors{{Msg: "e"}}}
	}
	for name, change := range map[string]func(s *Snapshot){
		"equal":        func(*Snapshot) {},
		"router_rule":  func(s *Snapshot) { s.Config.HTTP.Routers["a@file"].Rule = "Host(`b`)" },
		"router_added": func(s *Snapshot) { s.Config.HTTP.Routers["b@file"] = &dynamic.Router{} },
		"router_renamed": func(s *Snapshot) {
			s.Config.HTTP.Routers["b@file"] = s.Config.HTTP.Routers["a@file"]
			delete(s.Config.HTTP.Routers, "a@file")
		},
		"server_url":          func(s *Snapshot) { s.Config.HTTP.Services["s@file"].LoadBalancer.Servers[0].URL = "http://y" },
		"middleware_type":     func(s *Snapshot) { s.Config.HTTP.Middlewares["m@file"].Type = "headers" },
		"transport":           func(s *Snapshot) { s.Config.HTTP.ServersTransports["t@file"].ServerName = "y" },
		"transports_nil":      func(s *Snapshot) { s.Config.HTTP.ServersTransports = nil },
		"routers_nil":         func(s *Snapshot) { s.Config.HTTP.Routers = nil },
		"routers_empty":       func(s *Snapshot) { s.Config.HTTP.Routers = map[string]*dynamic.Router{} },
		"tls_option":          func(s *Snapshot) { s.Config.TLS.Options = map[string]*dynamic.TLSOptions{"default": {}} },
		"tcp":                 func(s *Snapshot) { s.Config.TCP = &dynamic.TCPConfiguration{} },
		"http_nil":            func(s *Snapshot) { s.Config.HTTP = nil },
		"error_message":       func(s *Snapshot) { s.Errors[0].Msg = "f" },
		"errors_nil":          func(s *Snapshot) { s.Errors = nil },
		"config_nil":          func(s *Snapshot) { s.Config = nil },
		"source_of_a_service": func(s *Snapshot) { s.Config.HTTP.Services["s@file"].Source.Line = 3 },
	} {
		a, b := base(), base()
		change(b)
		if got, want := sameSnapshot(a, b), reflect.DeepEqual(a, b); got != want {
			t.Errorf("%s: sameSnapshot = %v; DeepEqual = %v", name, got, want)
		}
	}
}
