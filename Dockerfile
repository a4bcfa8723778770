# Pallas container image: build stage with the Rust toolchain, small Debian runtime stage.
#   docker build -t pallas .
#   docker run -p 8200-8202:8200-8202 -v "$PWD:/etc/pallas:ro" pallas
# The project (agents.yaml, fastagent.config.yaml, modules) is mounted at /etc/pallas; set
# `bind: 0.0.0.0` there so the ports are reachable from outside the container.

FROM rust:1-bookworm AS build
WORKDIR /src
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake clang \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin pallas \
    && cp target/release/pallas /usr/local/bin/pallas

FROM debian:bookworm-slim AS runtime
# ca-certificates for AWS/Anthropic/OpenAI over TLS; curl for the HEALTHCHECK.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/pallas --create-home pallas
COPY --from=build /usr/local/bin/pallas /usr/local/bin/pallas
USER 10001:10001
WORKDIR /var/lib/pallas
ENV AWS_EC2_METADATA_DISABLED=false
EXPOSE 8200 8201 8202
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8200/livez"]
ENTRYPOINT ["/usr/local/bin/pallas"]
CMD ["serve", "--config", "/etc/pallas/agents.yaml"]
