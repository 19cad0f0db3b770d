# syntax=docker/dockerfile:1
# A minimal pim image: a static musl binary on distroless "static" (CA
# certificates, /etc/passwd with a nonroot user, tzdata; no shell, no libc).
# pim speaks TLS with rustls and reads the system's root certificates, so
# there is no OpenSSL to carry.
#
#   docker build -t pim .
#   docker run --rm -v "$PWD/pim:/config:ro" -e AZURE_TENANT_ID -e AZURE_CLIENT_ID \
#     -e AZURE_CLIENT_SECRET pim plan -C /config

# Alpine's Rust targets musl natively and links it statically by default;
# musl-dev is the C side ring builds against.
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
ENV CARGO_PROFILE_RELEASE_LTO=true \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin pim \
    && install -D -m 0755 target/release/pim /out/pim \
    # A static binary or the build fails: the runtime image has no libc.
    && if ldd /out/pim 2>&1 | grep -q '=>'; then echo "pim is not static" >&2; exit 1; fi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pim /usr/local/bin/pim
# The configuration is mounted here; a local state file is written beside it.
WORKDIR /config
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/pim"]
CMD ["--help"]
