package main

import (
	"github.com/wharfproxy/wharf/internal/api"
	"github.com/wharfproxy/wharf/router"
)

// ServerHealth makes app an api.Health: the balancer's live view of each server, for the
// API, the dashboard and wharf_service_server_up.
func (a *app) ServerHealth(s router.ServiceInfo) []api.ServerStatus {
	st := s.ServerStatus()
	if st == nil {
		return nil
	}
	out := make([]api.ServerStatus, 0, len(st))
	for _, x := range st {
		status := "up"
		if !x.Up {
			status = "down"
		}
		out = append(out, api.ServerStatus{URL: x.URL, Status: status, Reason: x.Reason, Since: x.Since})
	}
	return out
}
