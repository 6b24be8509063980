# callprep as a container image (for Kubernetes, or any container runtime).
#
#   docker build -t registry.example.com/callprep:0.1.0 .
#   docker run --rm -v "$PWD/calls:/data/calls:ro" -v "$PWD/out:/data/out" \
#       registry.example.com/callprep:0.1.0 run /data/calls -o /data/out
#
# Stage 1 builds the release binary with the pinned dependencies
# (Cargo.lock); stage 2 is a slim Debian with the binary alone, run as an
# unprivileged user. callprep links only glibc (and libgcc), which the slim
# image has; it needs no other runtime file.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin callprep \
    && strip target/release/callprep

FROM debian:bookworm-slim
# ca-certificates: for https:// object-storage endpoints.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 callprep \
    && useradd --uid 10001 --gid callprep --no-create-home --shell /usr/sbin/nologin callprep
COPY --from=build /src/target/release/callprep /usr/local/bin/callprep
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["callprep"]
CMD ["--help"]
