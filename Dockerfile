# Build the idbroker server and ship it on a slim base.
#
# Dependencies are built in a layer of their own (cargo-chef's recipe lists only the
# manifests), so a change to idbroker's code rebuilds the workspace crates alone.
FROM rust:1.95-bookworm AS chef
# SAML signatures are verified by xmlsec (C): its headers, pkg-config, and libclang for bindgen.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libxmlsec1-dev pkg-config libclang-dev \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p idbroker --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p idbroker

FROM debian:bookworm-slim
# The binary carries Mozilla's roots; the system store adds to them (a private CA installed with
# update-ca-certificates), and IDBROKER_EXTRA_CA_FILE names more without rebuilding the image.
# xmlsec's shared libraries (with libxml2 and OpenSSL) verify SAML signatures at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libxmlsec1 libxmlsec1-openssl libxml2 libssl3 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /var/lib/idbroker --create-home idbroker
COPY --from=build /src/target/release/idbroker /usr/local/bin/idbroker
USER idbroker
WORKDIR /var/lib/idbroker
# Reachable from outside the container (the default, 127.0.0.1, is not).
ENV IDBROKER_LISTEN=0.0.0.0:8080
EXPOSE 8080
# Alive when /healthz answers 200 (liveness: a database outage must not get every replica
# replaced); `idbroker health --ready` checks /readyz. Needs no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["idbroker", "health"]
ENTRYPOINT ["idbroker"]
CMD ["serve"]
