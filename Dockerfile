# syntax=docker/dockerfile:1
# The letta-find-tools MCP server over Streamable HTTP: the native addon built in a Rust stage,
# run on a slim Node image as a non-root user.

ARG NODE_VERSION=22
ARG RUST_VERSION=stable

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm AS build
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}"
WORKDIR /build

# Dependencies first, so that a source change reuses these layers.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY index.js ./
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3020
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY --from=build /build/index.js /build/binding.js /build/letta-find-tools.*.node ./
COPY --from=build /build/src/*.js ./src/

USER node
EXPOSE 3020
# The slim image has no curl; Node's fetch asks the server itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3020) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM lets calls in flight finish (SHUTDOWN_TIMEOUT_MS, 10 s by default), then exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "src/index.js", "--http"]
