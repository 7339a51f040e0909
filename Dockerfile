# serin: a small static, non-root image.
#   docker build -t serin:dev .
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked -p serin --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/dist/serin /serin

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /serin /usr/local/bin/serin
# mimalloc (the musl build's allocator) commits memory as it is used and returns it at
# once: at 300 Canaries half the peak RSS for a little CPU, still less than the glibc
# build uses (README, Benchmark).
ENV MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=0
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/serin"]
CMD ["run"]
