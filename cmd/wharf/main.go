// Command wharf is a reverse proxy for containers: it watches the Docker engine and
// configuration files, and routes requests to the backends they describe.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

const usage = `wharf — a reverse proxy for containers and other backends.

Usage:
  wharf [run] [--config FILE] [--<option>=<value> ...]   start the proxy (the default)
  wharf check [--config FILE] [--format json]            validate the configuration without serving it
  wharf healthcheck [--config FILE]                      exit 0 when a running wharf answers /ping
  wharf version                                          print version, commit and build date
  wharf help                                             show this help

The static configuration is read from --config (default /etc/wharf/wharf.yml, then ./wharf.yml),
then from WHARF_* environment variables, then from flags; later ones win. Every option has all
three forms, for example:
  entryPoints.web.address: ":8000"       (wharf.yml)
  WHARF_ENTRYPOINTS_WEB_ADDRESS=:8000     (environment)
  --entryPoints.web.address=:8000         (flag)

Run "wharf help <command>" (or "wharf <command> --help") for a command's options.

Examples:
  wharf --config examples/file/wharf.yml
  wharf check --config examples/file/wharf.yml
  wharf --entryPoints.web.address=:8080 --providers.file.filename=dynamic.yml
  WHARF_LOG_LEVEL=debug wharf
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, helpFor(cmd))
			return 0
		}
	}
	switch cmd {
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := runCommand(ctx, args, stderr); err != nil {
			fmt.Fprintf(stderr, "wharf: %v\n", err)
			return 1
		}
		return 0
	case "healthcheck":
		if err := healthcheck(args); err != nil {
			fmt.Fprintf(stderr, "wharf healthcheck: %v\n", err)
			return 1
		}
		return 0
	case "version":
		fmt.Fprintf(stdout, "wharf %s\ncommit: %s\nbuilt:  %s\n", version, commit, date)
		return 0
	case "check":
		return checkCommand(context.Background(), args, stdout, stderr)
	case "help":
		if len(args) > 0 {
			fmt.Fprint(stdout, helpFor(args[0]))
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wharf: unknown command %q\n\n%s", cmd, usage)
	return 2
}
