# Build the idbroker server and ship it on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p idbroker

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/idbroker --create-home idbroker
COPY --from=build /src/target/release/idbroker /usr/local/bin/idbroker
USER idbroker
WORKDIR /var/lib/idbroker
EXPOSE 8080
ENTRYPOINT ["idbroker"]
CMD ["serve"]
