# syntax=docker/dockerfile:1
#
# The praas silo image: `praas start` with the runtime packages and two example
# actor modules (quickstart and chat). Build from the repository root:
#
#   docker build -t praas:0.1.0 .
#   docker run --rm -p 7070:7070 -e PRAAS_TOKEN=$(openssl rand -hex 24) praas:0.1.0
#
# Your own actors: build an image FROM this one that copies your compiled
# modules and sets PRAAS_ACTORS (docs/deploy.md, "Your actors in the image").
#
# Stages:
#   build     all dependencies (dev included), compile the TypeScript
#   prod-deps production dependencies only, for the workspaces the image runs
#   runtime   prod-deps + the compiled output; non-root; no npm cache, no sources

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile everything the image runs ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY . .
# Set aside every workspace manifest for the prod-deps stage (npm ci wants each
# workspace the lockfile names), then install everything and compile.
RUN mkdir -p /manifests \
 && for f in package.json package-lock.json */package.json */*/package.json; do \
      mkdir -p "/manifests/$(dirname "$f")" && cp "$f" "/manifests/$f"; \
    done \
 && npm ci --no-audit --no-fund \
 && npx tsc -b apps/praas examples/quickstart examples/chat

# ---- prod-deps: production dependencies of the workspaces the image runs ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY --from=build /manifests/ ./
# --omit=dev: no TypeScript, vitest, biome…; the workspace filter leaves out the
# bench and the latex example (which pulls in the S3 test server).
RUN npm ci --omit=dev --no-audit --no-fund \
      --workspace=@praas/praas --workspace=@praas/example-quickstart --workspace=@praas/example-chat \
 && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/ ./
COPY --from=build /src/packages/core/dist/ packages/core/dist/
COPY --from=build /src/packages/silo/dist/ packages/silo/dist/
COPY --from=build /src/packages/redis/dist/ packages/redis/dist/
COPY --from=build /src/packages/storage-s3/dist/ packages/storage-s3/dist/
COPY --from=build /src/packages/client/dist/ packages/client/dist/
COPY --from=build /src/apps/praas/dist/ apps/praas/dist/
COPY --from=build /src/examples/quickstart/dist/ examples/quickstart/dist/
COPY --from=build /src/examples/chat/dist/ examples/chat/dist/
COPY --from=build /src/examples/chat/public/ examples/chat/public/
# `praas` on the PATH; the working directory is the only place the silo user
# may write (the default embedded store, ./.praas-state, lands there).
RUN chmod 0755 apps/praas/dist/main.js \
 && ln -s /app/apps/praas/dist/main.js /usr/local/bin/praas \
 && mkdir -p /var/lib/praas \
 && chown node:node /var/lib/praas
WORKDIR /var/lib/praas

# Listen on every interface of the container. A non-loopback gateway requires a
# token: without PRAAS_TOKEN (or PRAAS_INSECURE=true) the silo refuses to start.
ENV PRAAS_HOST=0.0.0.0 \
    PRAAS_PORT=7070 \
    PRAAS_ACTORS=/app/examples/quickstart/dist/actors.js,/app/examples/chat/dist/actors.js

# 7070: the gateway (WebSocket /ws and HTTP). 7100: the silo-to-silo listener,
# used when the deployment sets PRAAS_CLUSTER_HOST=0.0.0.0 PRAAS_CLUSTER_PORT=7100.
EXPOSE 7070 7100

# The node user of the base image (uid 1000), never root.
USER node

# /healthz answers without a token; node's fetch, since the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PRAAS_PORT||7070}/healthz`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# SIGTERM (docker stop, Kubernetes) drains: running calls finish, actors are
# handed over, state is saved. Give it more than the drain timeout to finish
# (docker stop -t 60; terminationGracePeriodSeconds in Kubernetes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["praas", "start"]
