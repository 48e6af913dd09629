# The one NetGPT image: every component is a subcommand of the same binary
# (`operator`, `serve`, `gateway`, `desensitize`, `fetch`, `local`).
#
#   hack/image.sh                 # cargo build --release, then this file; prints the image reference
#
# The binary is built by cargo on the build host and copied in (no Rust toolchain image is
# needed, so the same recipe works where no registry but the base image's is reachable).
# The base is Debian 12 so the binary's glibc matches the build host's (Debian 12);
# hack/base-image.sh makes `debian:bookworm-slim` from Debian's packages where it cannot be
# pulled. Runs as the unprivileged 65532 (the `nonroot` id distroless images use) and
# writes nothing outside /tmp, so a read-only root filesystem works.
FROM debian:bookworm-slim

# Path of the binary inside the build context (hack/image.sh passes the one it built).
ARG NETGPT_BINARY=target/release/netgpt
ARG VERSION=0.1.0
ARG REVISION=unknown

LABEL org.opencontainers.image.title="netgpt" \
      org.opencontainers.image.description="NetGPT: personalized edge and cloud LLM services on Kubernetes (operator, model server, workflow gateway, desensitizer)" \
      org.opencontainers.image.source="https://github.com/netgpt/netgpt" \
      org.opencontainers.image.url="https://github.com/netgpt/netgpt" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

COPY ${NETGPT_BINARY} /usr/local/bin/netgpt
# The desensitizer's learned PII detector (`netgpt model pull pii-rampart`, staged by
# hack/image.sh; CC BY 4.0, its LICENSE is in the directory), found by `desensitize`
# through NETGPT_PII_MODEL.
COPY target/image/pii-rampart /usr/share/netgpt/models/pii-rampart
# The licence and the attribution the compiled-in name and place lists require.
COPY LICENSE NOTICE /usr/share/doc/netgpt/
# Where models, adapters and fetched files are mounted; owned by the runtime user so an
# emptyDir or PVC mounted below it inherits a writable parent.
RUN mkdir -p /var/lib/netgpt && chown 65532:65532 /var/lib/netgpt

USER 65532:65532
WORKDIR /tmp
ENV HOME=/tmp \
    NETGPT_PII_MODEL=/usr/share/netgpt/models/pii-rampart
EXPOSE 8000 8080
ENTRYPOINT ["/usr/local/bin/netgpt"]
CMD ["--help"]
