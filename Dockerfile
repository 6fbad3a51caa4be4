# wasp's container image: built with the Rust toolchain, run as a non-root
# user on a base that holds only the C runtime (no shell, no package
# manager). Every setting is a WASP_* environment variable (README,
# "Configuration"); state lives in the /data volume.
#
#   docker build -t wasp .
#   docker run -p 8080:8080 -v wasp-data:/data -e WASP_API_KEY=... wasp
#
# tests/deploy.rs checks what this file must keep (non-root user, the
# volume, the health check, no downloads at run time); .ci/run lints it
# with hadolint.

ARG RUST_VERSION=1.95

# ---- build: the release binary ----------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Only what the binary is built from (.dockerignore keeps the rest out):
# protobufs are compiled by build.rs in pure Rust and SQLite is bundled,
# so the toolchain image's C compiler is all the build needs.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY benches ./benches
COPY src ./src
RUN cargo build --release --locked --bin wasp \
    && strip target/release/wasp \
    && mkdir -p /out/wasp /out/state/data \
    && cp target/release/wasp /out/wasp/wasp

# ---- run: the binary, the C runtime, nothing else -----------------------
# distroless/cc: glibc and libgcc, CA roots unused (wasp carries the
# Mozilla roots itself); its "nonroot" user is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/wasp/wasp /usr/local/bin/wasp
# The volume's mount point, owned by the user wasp runs as: a named
# volume starts as a copy of it (copied as the child of a directory so
# that --chown reaches it); wasp narrows its mode to 0700 on start.
COPY --from=build --chown=65532:65532 /out/state/ /
USER 65532:65532
WORKDIR /data

# Listen on every interface (the API key is then required), keep state
# in the volume. Override any setting with -e WASP_...=...
ENV WASP_LISTEN=0.0.0.0:8080 \
    WASP_DATA=/data \
    RUST_LOG=info
EXPOSE 8080
VOLUME ["/data"]

# wasp probes itself: the base has no curl or shell. The URL follows
# WASP_LISTEN (an unspecified address is probed on loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/wasp", "healthcheck"]

# SIGTERM (docker stop, a redeploy) closes every session cleanly within
# WASP_SHUTDOWN_GRACE; keep the orchestrator's own stop timeout above
# twice that (docker's default is 10 s: use --stop-timeout 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wasp"]
CMD ["serve"]
