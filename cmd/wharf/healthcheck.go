package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/wharfproxy/wharf/internal/static"
)

// healthcheck asks a running wharf, configured the same way, whether it is alive: it loads
// the same static configuration and requests /ping where that instance serves it. It is what
// the image's HEALTHCHECK runs.
func healthcheck(args []string) error {
	cfg, err := static.Load(args, os.Environ())
	if err != nil {
		return err
	}
	addr := ""
	if cfg.Ping != nil && cfg.Ping.EntryPoint != "" {
		if ep, ok := cfg.EntryPoints[cfg.Ping.EntryPoint]; ok {
			addr = ep.Address
		}
	} else if cfg.API != nil {
		addr = cfg.API.Address
	}
	if addr == "" {
		return fmt.Errorf("nothing serves /ping: enable the api (api.address) or set ping.entryPoint")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/ping"
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("GET %s: %v", url, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}
