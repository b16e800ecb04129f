# The letta-find-tools MCP server over Streamable HTTP: the native addon built in a Rust stage,
# run on a slim Node image as uid 1000. No `# syntax=` line: the frontend built into BuildKit (and
# buildah) reads this file, so an offline or air-gapped build fetches no frontend image.

ARG NODE_VERSION=22
# Pinned, so two builds of one commit use one compiler. At least Cargo.toml's rust-version.
ARG RUST_VERSION=1.95.0

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm AS build
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A builder image that already has this toolchain keeps it; otherwise rustup installs it, and a
# failed download fails this step (pipefail) instead of a later one.
RUN if [ "$(rustc --version 2>/dev/null | cut -d' ' -f2)" = "${RUST_VERSION}" ]; then \
      echo "using the image's rustc ${RUST_VERSION}"; \
    else \
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}"; \
    fi \
 && rustc --version
WORKDIR /build

COPY package.json package-lock.json ./
# --ignore-scripts: the clone's `prepare` step would build the addon before its sources are here;
# the build below does that once they are.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
# Only the Rust sources (each folder of Rust modules under src/ named here) and the JS the addon
# compiles in: an edit to the server's JS leaves this layer, and the addon, cached.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/*.rs src/
COPY src/http/ src/http/
COPY src/napi/ src/napi/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    npm run build

# ---------------------------------------------------------------------------------------------
# The server's JS, wherever it lives under src/, and nothing else from there (src/napi/ is the
# addon's, compiled into it).
FROM node:${NODE_VERSION}-bookworm-slim AS server-js
WORKDIR /sources
COPY src/ src/
RUN rm -r src/napi && find src -type f ! -name '*.js' -delete && find src -type d -empty -delete

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3020
WORKDIR /app

# The lock file is read through a bind mount, so only package.json (read at run time) stays.
COPY package.json ./
RUN --mount=type=bind,source=package-lock.json,target=/app/package-lock.json \
    --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

COPY index.js load-binding.js ./
COPY --from=build /build/binding.js /build/letta-find-tools.*.node ./
COPY --from=server-js /sources/src/ ./src/

# Numeric, so Kubernetes' runAsNonRoot can verify it; the files above stay root's, read-only.
USER 1000:1000
EXPOSE 3020
# The slim image has no curl; Node's fetch asks the server itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3020) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM lets calls in flight finish (SHUTDOWN_TIMEOUT_MS, 10 s by default), then exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "src/index.js", "--http"]
