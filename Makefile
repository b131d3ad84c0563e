# wharf's build, test and benchmark entry points. `make test` is what CI runs (.ci/run) and
# installs everything the tests need itself, so it passes on a fresh machine.
SHELL := bash
GO    ?= go
BIN   := $(CURDIR)/.bin
export WHARFTEST_BIN_DIR := $(BIN)

PEBBLE_VERSION := v2.10.1

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration)

.PHONY: run build test unit integration vet tools check-docker bench clean

## run: start wharf on the example file configuration (see README)
run:
	$(GO) run ./cmd/wharf --config examples/file/wharf.yml

## build: a static wharf binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/wharf ./cmd/wharf

## test: everything CI runs: vet, unit tests with the race detector, integration tests
test: tools check-docker vet unit integration

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)

integration: tools check-docker
	$(GO) test -count=1 -timeout 15m ./integration/...

## tools: test dependencies, pinned (Go tools into .bin)
tools: $(BIN)/pebble $(BIN)/pebble-challtestsrv

$(BIN)/pebble:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION)

$(BIN)/pebble-challtestsrv:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

## check-docker: the integration tests need a Docker engine; without one the run fails
check-docker:
	@docker info >/dev/null 2>&1 || { echo "make: no Docker engine answers (docker info failed); the integration tests need one" >&2; exit 1; }

## bench: Go micro-benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./router/...

clean:
	rm -rf bin .bin
