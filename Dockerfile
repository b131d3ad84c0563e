# wharf's container image: one static binary FROM scratch, the way release tools for Go
# (goreleaser, ko) build images. Nothing is compiled or downloaded here, so the build needs no
# registry and no network: `make image` compiles wharf (CGO off, time zone data embedded with
# -tags timetzdata), stages it with the build machine's CA bundle and an empty data directory
# in bin/image/, and runs `docker build` on that directory. See docs/image.md.
#
# Build context (bin/image/, staged by `make image`):
#   wharf                    the static binary, version stamped with -ldflags -X main.version=...
#   ca-certificates.crt      CA bundle, for Let's Encrypt and https:// backends
#   data/                    empty; becomes /data, owned by the unprivileged user
FROM scratch

ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown

LABEL org.opencontainers.image.title="wharf" \
      org.opencontainers.image.description="A reverse proxy for containers: Docker labels and files become routes, with automatic HTTPS" \
      org.opencontainers.image.source="https://github.com/wharfproxy/wharf" \
      org.opencontainers.image.url="https://github.com/wharfproxy/wharf" \
      org.opencontainers.image.documentation="https://github.com/wharfproxy/wharf/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The only writable place. A named volume mounted here starts as a copy of this directory,
# owner included, so the unprivileged user can write certificates into it.
COPY --chown=65532:65532 data /data
COPY wharf /usr/local/bin/wharf

# 65532 is the conventional "nonroot" user of distroless images; no /etc/passwd is needed.
USER 65532:65532
# The working directory makes the default ACME storage (./data/certs) land on the volume.
WORKDIR /
VOLUME /data
EXPOSE 80 443

# `wharf healthcheck` reads the same wharf.yml and WHARF_* variables as the running instance
# (not its command-line flags) and asks for /ping where that instance serves it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/wharf", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/wharf"]
CMD ["run"]
