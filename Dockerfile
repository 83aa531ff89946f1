# Build the idbroker server and ship it on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p idbroker

FROM debian:bookworm-slim
# The binary carries Mozilla's roots; the system store adds to them (a private CA installed with
# update-ca-certificates), and IDBROKER_EXTRA_CA_FILE names more without rebuilding the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /var/lib/idbroker --create-home idbroker
COPY --from=build /src/target/release/idbroker /usr/local/bin/idbroker
USER idbroker
WORKDIR /var/lib/idbroker
# Reachable from outside the container (the default, 127.0.0.1, is not).
ENV IDBROKER_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["idbroker"]
CMD ["serve"]
