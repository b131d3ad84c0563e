# wharf's build, test and benchmark entry points. `make test` is what CI runs (.ci/run) and
# installs everything the tests need itself, so it passes on a fresh machine.
SHELL := bash
GO    ?= go
BIN   := $(CURDIR)/.bin
export WHARFTEST_BIN_DIR := $(BIN)

PEBBLE_VERSION := v2.10.1
# h2spec's last version the module proxy serves (later tags are not valid Go module versions).
H2SPEC_VERSION := v2.2.1+incompatible

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration)

.PHONY: run build image test unit integration vet tools debian-tools chromium check-docker bench clean

## run: start wharf on the example file configuration (see README)
run:
	$(GO) run ./cmd/wharf --config examples/file/wharf.yml

## build: a static wharf binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/wharf ./cmd/wharf

## image: the container image, FROM scratch around the static binary (no registry needed;
## see docs/image.md). IMAGE names it; the context is staged in IMAGE_CONTEXT.
IMAGE         ?= wharf:latest
IMAGE_CONTEXT ?= bin/image
CA_BUNDLE     ?= /etc/ssl/certs/ca-certificates.crt
image:
	@test -n "$(IMAGE_CONTEXT)" || { echo "make image: IMAGE_CONTEXT is empty" >&2; exit 1; }
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/data && chmod 0750 $(IMAGE_CONTEXT)/data
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -tags timetzdata -ldflags '$(LDFLAGS)' -o $(IMAGE_CONTEXT)/wharf ./cmd/wharf
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/ca-certificates.crt && cp Dockerfile $(IMAGE_CONTEXT)/Dockerfile
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE) $(IMAGE_CONTEXT)

## test: everything CI runs: vet, unit tests with the race detector, integration tests
test: tools check-docker vet unit integration

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)
	@# Allocation counts are only meaningful without the race detector: run those tests again.
	$(GO) test -count=1 -run 'Allocat' $(UNIT_PKGS)

integration: tools check-docker
	$(GO) test -count=1 -timeout 15m ./integration/...

## tools: test dependencies, pinned (Go tools into .bin)
tools: $(BIN)/pebble $(BIN)/pebble-challtestsrv $(BIN)/h2spec debian-tools chromium bench-tools

$(BIN)/pebble:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION)

$(BIN)/pebble-challtestsrv:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

$(BIN)/h2spec:
	GOBIN=$(BIN) $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

# debian-tools: the lenient backend (nginx) and the slow-client generator (slowhttptest) of the
# security tests, from Debian, installed only when missing.
debian-tools:
	@command -v nginx >/dev/null && command -v slowhttptest >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx slowhttptest; }

# chromium: the headless browser the dashboard test drives (integration/dashboard_test.go),
# from Debian, installed only when missing (CI runs as root).
chromium:
	@command -v chromium >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

## check-docker: the integration tests need a Docker engine; without one the run fails
check-docker:
	@docker info >/dev/null 2>&1 || { echo "make: no Docker engine answers (docker info failed); the integration tests need one" >&2; exit 1; }

## bench: the Go micro-benchmarks, then wharf beside nginx and HAProxy with the load harness
## (integration/bench, about 15 minutes; method and latest figures in docs/performance.md).
## The tables are printed and written with CSVs to BENCH_OUT; BENCH_FLAGS go to the harness.
BENCH_OUT   ?= bin/bench
BENCH_FLAGS ?=
.PHONY: bench-smoke bench-tools
bench: bench-tools
	$(GO) test -run '^$$' -bench . -benchmem ./router/...
	$(GO) run ./integration/bench -out $(BENCH_OUT) $(BENCH_FLAGS)

## bench-smoke: the harness for about a second per scenario (TestBenchSmoke, also run by
## `make integration`), so that it cannot rot
bench-smoke: bench-tools
	$(GO) test -count=1 -run TestBenchSmoke -v ./integration/bench

# bench-tools: the peers and load generators of the harness (nginx, haproxy, wrk, h2load),
# from Debian, installed only when missing (CI runs as root).
bench-tools:
	@command -v nginx >/dev/null && command -v haproxy >/dev/null && command -v wrk >/dev/null && command -v h2load >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx haproxy wrk nghttp2-client; }

clean:
	rm -rf bin .bin
