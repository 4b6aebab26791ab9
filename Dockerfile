# syntax=docker/dockerfile:1
# legway gateway image: build (TypeScript + native addons), then a slim non-root runtime.

FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Our patches to dependencies (patch-package; sip.js's grammar decoded once, not on every parse).
COPY patches ./patches
# Sources are not here yet, so skip `prepare` (tsc), and with it `postinstall`: apply the patches and
# build the native addon explicitly. `npm prune --omit=dev` below keeps the patched files.
RUN npm ci --ignore-scripts --no-audit --no-fund && npx patch-package --error-on-fail && npm rebuild better-sqlite3 libpq
COPY tsconfig.json tsconfig.build.json tsconfig.client-types.json ./
COPY src ./src
COPY machines ./machines
# The browser side: client library and pages, bundled by esbuild into dist/web (tsconfigs come along).
COPY client ./client
COPY web ./web
COPY scripts/build-web.mjs ./scripts/build-web.mjs
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim AS runtime
# The PostgreSQL client library, for LEGWAY_DATABASE_URL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    LEGWAY_HOST=0.0.0.0 \
    LEGWAY_HTTP_PORT=3000 \
    LEGWAY_DATA_DIR=/var/lib/legway \
    LEGWAY_MEDIA_DIR=/app/media
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
RUN mkdir -p /var/lib/legway /app/media && chown node:node /var/lib/legway /app/media
USER node
VOLUME ["/var/lib/legway"]
EXPOSE 3000 5060/udp 5060/tcp
# LEGWAY_SECRET must be supplied at run time: in production the gateway refuses a generated one.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.LEGWAY_HTTP_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/legway.js"]
CMD ["serve"]
